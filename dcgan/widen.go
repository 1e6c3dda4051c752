package dcgan

import (
	"fmt"
	"math/rand/v2"

	"avatargan/nn"
)

// Widen makes dst, a generator with more channels per layer than src (a larger GF,
// the same Size and ZDim), compute exactly src's function, so that training can go on
// from src with more capacity (Net2Net's function-preserving widening, in its
// zero-init form). Every old weight, bias and BatchNorm entry is copied; each new
// channel gets the fresh init of r (TF's, as Init: its incoming weights random, its
// BatchNorm at gamma 1, beta 0) and zero weights into every old channel of the next
// layer. So the old channels' pre-activations, and with them the batch statistics and
// the image, are unchanged, while the new channels' outgoing weights get gradients
// (their activations are not zero) and grow in with the first updates. Zero weights
// between new channels would never move; random ones there do no harm, since they
// only feed other new channels.
func Widen(dst, src *Generator, r *rand.Rand) error {
	if dst.Size != src.Size || dst.ZDim != src.ZDim {
		return fmt.Errorf("dcgan: widen: generators of %d px, z %d and %d px, z %d", src.Size, src.ZDim, dst.Size, dst.ZDim)
	}
	if dst.GF < src.GF {
		return fmt.Errorf("dcgan: widen: width %d is narrower than the source's %d", dst.GF, src.GF)
	}
	if dst.Refine > 0 || src.Refine > 0 {
		return fmt.Errorf("dcgan: widen: generators with a refinement head cannot be widened (widen first, then add the head)")
	}
	dst.Init(r)
	// fc: output features are channel-major ([8gf, s, s] views), so the old
	// channels' rows are the first ones, at the same indices.
	copy(dst.FC.Weight.Data, src.FC.Weight.Data)
	copy(dst.FC.Bias.Data, src.FC.Bias.Data)
	for i := range dst.BN {
		widenBN(dst.BN[i], src.BN[i])
	}
	for i := range dst.Deconv {
		widenDeconv(dst.Deconv[i], src.Deconv[i])
	}
	nn.Touch(dst.params)
	return nil
}

// AddRefine makes dst, a generator with a refinement head, compute exactly src's
// function, src being the same generator without one: the reference layers are copied,
// the head keeps dst's fresh init except its last convolution, which is zeroed, so the
// head adds nothing to the output until training grows it (its last convolution gets
// gradients at once, since its input, the head's ReLU features, is not zero).
func AddRefine(dst, src *Generator) error {
	if dst.Size != src.Size || dst.ZDim != src.ZDim || dst.GF != src.GF || dst.Refine == 0 || src.Refine != 0 {
		return fmt.Errorf("dcgan: add refine: from %d px, z %d, gf %d, refine %d to %d px, z %d, gf %d, refine %d: want the same shape, with a head only in the destination",
			src.Size, src.ZDim, src.GF, src.Refine, dst.Size, dst.ZDim, dst.GF, dst.Refine)
	}
	from := map[string]nn.NamedTensor{}
	for _, t := range src.Tensors() {
		from[t.Name] = t
	}
	for _, t := range dst.Tensors() {
		f, ok := from[t.Name]
		switch {
		case !ok:
			continue
		case t.Count != nil:
			*t.Count = *f.Count
		default:
			copy(t.Data, f.Data)
		}
	}
	clear(dst.RefineConv.Weight.Data)
	clear(dst.RefineConv.Bias.Data)
	nn.Touch(dst.params)
	return nil
}

// widenBN copies src's channels into the first ones of dst (whose others stay reset).
func widenBN(dst, src *nn.BatchNorm2d) {
	copy(dst.Weight.Data, src.Weight.Data)
	copy(dst.Bias.Data, src.Bias.Data)
	copy(dst.RunningMean.Data, src.RunningMean.Data)
	copy(dst.RunningVar.Data, src.RunningVar.Data)
	dst.NumBatchesTracked = src.NumBatchesTracked
}

// widenDeconv copies src's [InC, OutC, K, K] weights into dst's old-input x old-output
// block and zeroes the new inputs' weights into old outputs; weights into new outputs
// keep dst's init.
func widenDeconv(dst, src *nn.ConvTranspose2d) {
	kk := dst.K * dst.K
	for ic := 0; ic < dst.InC; ic++ {
		for oc := 0; oc < src.OutC; oc++ {
			d := dst.Weight.Data[(ic*dst.OutC+oc)*kk:][:kk]
			if ic < src.InC {
				copy(d, src.Weight.Data[(ic*src.OutC+oc)*kk:][:kk])
			} else {
				clear(d)
			}
		}
	}
	copy(dst.Bias.Data, src.Bias.Data)
}
