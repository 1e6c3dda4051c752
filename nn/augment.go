package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// DiffAugment is differentiable augmentation (Zhao et al. 2020, "Differentiable
// Augmentation for Data-Efficient GAN Training"): the discriminator sees every image,
// real or generated, through the same random colour, translation and cutout
// transforms, and the generator's gradient flows back through them. The transforms
// follow DiffAugment_pytorch.py of mit-han-lab/data-efficient-gans exactly; only the
// random numbers differ: they are drawn by Draw from a caller's *rand.Rand (in the order
// documented there) instead of torch's generator, so that a run can make them a pure
// function of its seed and step and resume exactly.
//
// Applied in this order, per sample i of a batch of n images of c x h x w:
//
//	brightness  x += B[i] - 0.5
//	saturation  x = (x - mean_c x) * 2*S[i] + mean_c x           (mean over channels, per pixel)
//	contrast    x = (x - mean_chw x) * (C[i] + 0.5) + mean_chw x (mean over the whole image)
//	translation y[r][q] = x[r+TH[i]][q+TW[i]], 0 outside the image
//	cutout      y = 0 on rows [CH[i]-ch/2, CH[i]-ch/2+ch) x cols [CW[i]-cw/2, ...+cw),
//	            clipped to the image, with ch = int(h/2+0.5), cw = int(w/2+0.5)
//
// For fixed parameters every transform is affine in x, so Backward needs no saved
// activations, only the parameters: Forward and Backward must see the same Params (do
// not Draw between them). Means and the sums of Backward accumulate in float64; the
// elementwise arithmetic is float32, as in PyTorch's float32 code.
//
// Use: the official training code augments every discriminator input, real and fake,
// in the D step and in the G step, each call with fresh parameters; so Draw before
// every Forward. A DiffAugment holds one batch's output and parameters, so a batch
// that needs a Backward (the fakes) needs its own instance, or its Forward last.
type DiffAugment struct {
	Policy AugmentPolicy
	// Params holds the per-sample parameters of the current batch, set by Draw (or by
	// a test, to reproduce a given augmentation).
	Params AugmentParams

	c, n, h, w int         // shape of the last Forward
	y, dx, tmp []float32   // output, input gradient, intermediate (owned)
	pl         [][]float32 // one image's channel planes (reused)
	mean       []float32   // per-pixel channel mean (reused)
	acc        []float64   // its accumulator
}

// AugmentPolicy selects DiffAugment's transforms; the paper's best is all three.
type AugmentPolicy struct{ Color, Translation, Cutout bool }

// policyNames are the policy's transform names in the order they are applied.
var policyNames = [...]string{"color", "translation", "cutout"}

func (p AugmentPolicy) flags() [3]bool { return [3]bool{p.Color, p.Translation, p.Cutout} }

// Any reports whether p applies any transform.
func (p AugmentPolicy) Any() bool { return p.Color || p.Translation || p.Cutout }

// String returns the policy as ParseAugmentPolicy reads it, e.g. "color,cutout"; ""
// for none.
func (p AugmentPolicy) String() string {
	var names []string
	for i, on := range p.flags() {
		if on {
			names = append(names, policyNames[i])
		}
	}
	return strings.Join(names, ",")
}

// ParseAugmentPolicy reads a comma-separated subset of "color,translation,cutout" (the
// official policy string; "" selects none). The names must come in that order, which
// is the order the transforms are applied: DiffAugment_pytorch.py applies them in the
// order written, and an order this package does not apply is an error rather than
// silently a different augmentation.
func ParseAugmentPolicy(s string) (AugmentPolicy, error) {
	var p AugmentPolicy
	if s == "" {
		return p, nil
	}
	flags := [3]*bool{&p.Color, &p.Translation, &p.Cutout}
	next := 0 // index in policyNames of the first name still allowed
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		k := -1
		for i, n := range policyNames {
			if name == n {
				k = i
			}
		}
		switch {
		case k < 0:
			return AugmentPolicy{}, fmt.Errorf("augment policy %q: unknown transform %q (want a comma-separated subset of %s)",
				s, name, strings.Join(policyNames[:], ","))
		case *flags[k]:
			return AugmentPolicy{}, fmt.Errorf("augment policy %q: %q listed twice", s, name)
		case k < next:
			return AugmentPolicy{}, fmt.Errorf("augment policy %q: transforms must be listed in the order they are applied, %s",
				s, strings.Join(policyNames[:], ","))
		}
		*flags[k] = true
		next = k + 1
	}
	return p, nil
}

// AugmentParams are the random parameters of one batch, one AugmentSample per image,
// drawn for images of H x W.
type AugmentParams struct {
	H, W    int
	Samples []AugmentSample
}

// AugmentSample holds one image's parameters: the three uniform [0, 1) variates that
// DiffAugment_pytorch.py draws with torch.rand, and the integers it draws with
// torch.randint, in the ranges given by AugmentRanges.
type AugmentSample struct {
	Brightness, Saturation, Contrast float32 // in [0, 1)
	TransH, TransW                   int     // shift along H and W, in [-shiftH, shiftH] x [-shiftW, shiftW]
	CutH, CutW                       int     // cutout centre, in [0, cutOffH) x [0, cutOffW)
}

// AugmentRanges returns, for images of h x w, the translation bound (shifts are drawn
// in [-shift, shift]), the cutout size, and the exclusive bound of the cutout centre
// offsets, per axis, exactly as DiffAugment_pytorch.py computes them (ratios 1/8 and
// 1/2, rounded half up; the offset range loses its last value for odd cutout sizes).
func AugmentRanges(h, w int) (shiftH, shiftW, cutH, cutW, cutOffH, cutOffW int) {
	shiftH, shiftW = int(float64(h)*0.125+0.5), int(float64(w)*0.125+0.5)
	cutH, cutW = int(float64(h)*0.5+0.5), int(float64(w)*0.5+0.5)
	cutOffH, cutOffW = h+1-cutH%2, w+1-cutW%2
	return
}

// check panics unless every parameter lies in the range Draw draws it from: the
// cutout and translation code relies on it.
func (p *AugmentParams) check() {
	shiftH, shiftW, _, _, cutOffH, cutOffW := AugmentRanges(p.H, p.W)
	for i, s := range p.Samples {
		if !(s.Brightness >= 0 && s.Brightness < 1 && s.Saturation >= 0 && s.Saturation < 1 &&
			s.Contrast >= 0 && s.Contrast < 1 &&
			s.TransH >= -shiftH && s.TransH <= shiftH && s.TransW >= -shiftW && s.TransW <= shiftW &&
			s.CutH >= 0 && s.CutH < cutOffH && s.CutW >= 0 && s.CutW < cutOffW) {
			panic(fmt.Sprintf("nn: DiffAugment sample %d has parameters out of range for %dx%d: %+v", i, p.H, p.W, s))
		}
	}
}

// Draw draws fresh parameters for a batch of n images of h x w from r. For each image
// in turn it draws, in this order: Brightness, Saturation, Contrast (r.Float32 each),
// TransH, TransW (r.IntN(2*shift+1) - shift), CutH, CutW (r.IntN(cutOff)). It draws all
// seven whatever the policy, so the random stream, and thus every other parameter,
// does not depend on which transforms are on.
func (a *DiffAugment) Draw(r *rand.Rand, n, h, w int) {
	shiftH, shiftW, _, _, cutOffH, cutOffW := AugmentRanges(h, w)
	p := &a.Params
	p.H, p.W = h, w
	p.Samples = p.Samples[:0]
	for range n {
		var s AugmentSample
		s.Brightness = r.Float32()
		s.Saturation = r.Float32()
		s.Contrast = r.Float32()
		s.TransH = r.IntN(2*shiftH+1) - shiftH
		s.TransW = r.IntN(2*shiftW+1) - shiftW
		s.CutH = r.IntN(cutOffH)
		s.CutW = r.IntN(cutOffW)
		p.Samples = append(p.Samples, s)
	}
}

// Forward applies the augmentation of Params to x, in CNHW layout ([c][n][h][w]), and
// returns y in a buffer owned by a (valid until the next Forward).
func (a *DiffAugment) Forward(x []float32, c, n, h, w int) []float32 {
	if len(x) != c*n*h*w {
		panic(fmt.Sprintf("nn: DiffAugment input has %d values, want %d*%d*%d*%d", len(x), c, n, h, w))
	}
	if p := a.Params; len(p.Samples) != n || p.H != h || p.W != w {
		panic(fmt.Sprintf("nn: DiffAugment params drawn for %d images of %dx%d, input is %d of %dx%d",
			len(p.Samples), p.H, p.W, n, h, w))
	}
	a.Params.check()
	a.c, a.n, a.h, a.w = c, n, h, w
	a.y = Grow(a.y, len(x))
	src := x
	if a.Policy.Color {
		a.tmp = Grow(a.tmp, len(x))
		copy(a.tmp, x)
		a.colorForward(a.tmp)
		src = a.tmp
	}
	if a.Policy.Translation {
		a.translate(a.y, src, +1)
	} else {
		copy(a.y, src)
	}
	if a.Policy.Cutout {
		a.cutout(a.y)
	}
	return a.y
}

// Backward returns dx for dy (CNHW, the shape of the last Forward) in a buffer owned by
// a: the transforms' adjoints in reverse order.
func (a *DiffAugment) Backward(dy []float32) []float32 {
	if len(dy) != a.c*a.n*a.h*a.w {
		panic(fmt.Sprintf("nn: DiffAugment Backward got %d values, Forward had %d", len(dy), a.c*a.n*a.h*a.w))
	}
	a.dx = Grow(a.dx, len(dy))
	src := dy
	if a.Policy.Cutout {
		// Cutout multiplies by a 0/1 mask: its adjoint is the same mask.
		a.tmp = Grow(a.tmp, len(dy))
		copy(a.tmp, dy)
		a.cutout(a.tmp)
		src = a.tmp
	}
	if a.Policy.Translation {
		// A shift with zero fill is adjoint to the opposite shift with zero fill.
		a.translate(a.dx, src, -1)
	} else {
		copy(a.dx, src)
	}
	if a.Policy.Color {
		a.colorBackward(a.dx)
	}
	return a.dx
}

// plane returns image i's channel ch of the CNHW tensor t.
func (a *DiffAugment) plane(t []float32, ch, i int) []float32 {
	hw := a.h * a.w
	off := (ch*a.n + i) * hw
	return t[off : off+hw : off+hw]
}

// planes returns image i's channels in the CNHW tensor t, h*w values each.
func (a *DiffAugment) planes(t []float32, i int) [][]float32 {
	a.pl = a.pl[:0]
	for ch := range a.c {
		a.pl = append(a.pl, a.plane(t, ch, i))
	}
	return a.pl
}

// colorForward applies brightness, saturation and contrast to t in place.
func (a *DiffAugment) colorForward(t []float32) {
	nc, hw := float64(a.c), a.h*a.w
	for i, s := range a.Params.Samples {
		ps := a.planes(t, i)
		b := s.Brightness - 0.5
		for _, p := range ps {
			for k := range p {
				p[k] += b
			}
		}
		// Saturation: per pixel, scale the deviation from the mean over channels.
		f := s.Saturation * 2
		mean := a.channelMean(ps)
		for _, p := range ps {
			for k, v := range p {
				p[k] = (v-mean[k])*f + mean[k]
			}
		}
		// Contrast: scale the deviation from the image's mean over c, h, w.
		m, g := float32(sum64(ps)/(nc*float64(hw))), s.Contrast+0.5
		for _, p := range ps {
			for k, v := range p {
				p[k] = (v-m)*g + m
			}
		}
	}
}

// colorBackward maps the gradient of the colour transforms' output to that of their
// input, in place. Each of saturation and contrast is y = f*x + (1-f)*mean(x), whose
// adjoint is dx = f*dy + (1-f)*mean(dy) over the same set; brightness adds a
// constant, so its adjoint is the identity. Contrast was applied last, so it goes first.
func (a *DiffAugment) colorBackward(g []float32) {
	nc, hw := float64(a.c), a.h*a.w
	for i, s := range a.Params.Samples {
		ps := a.planes(g, i)
		f := s.Contrast + 0.5
		add := float32((1 - float64(f)) * sum64(ps) / (nc * float64(hw)))
		for _, p := range ps {
			for k, v := range p {
				p[k] = f*v + add
			}
		}
		f = s.Saturation * 2
		mean := a.channelMean(ps)
		for _, p := range ps {
			for k, v := range p {
				p[k] = f*v + (1-f)*mean[k]
			}
		}
	}
}

// channelMean returns the per-pixel mean over the planes ps, accumulated in float64,
// in a buffer owned by a.
func (a *DiffAugment) channelMean(ps [][]float32) []float32 {
	hw := len(ps[0])
	a.acc = slices.Grow(a.acc[:0], hw)[:hw]
	clear(a.acc)
	for _, p := range ps {
		for k, v := range p {
			a.acc[k] += float64(v)
		}
	}
	a.mean = Grow(a.mean, hw)
	for k, v := range a.acc {
		a.mean[k] = float32(v / float64(len(ps)))
	}
	return a.mean
}

// sum64 returns the sum of all values of ps, accumulated in float64 (four partial
// sums, so that the additions do not wait on each other).
func sum64(ps [][]float32) float64 {
	var s [4]float64
	for _, p := range ps {
		k := 0
		for ; k+4 <= len(p); k += 4 {
			s[0] += float64(p[k])
			s[1] += float64(p[k+1])
			s[2] += float64(p[k+2])
			s[3] += float64(p[k+3])
		}
		for ; k < len(p); k++ {
			s[0] += float64(p[k])
		}
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// translate writes dst[r][q] = src[r+dir*TH][q+dir*TW] for every plane, 0 where that
// falls outside the image. dir = +1 is the forward translation, -1 its adjoint.
// (DiffAugment_pytorch.py pads by one zero and clamps its gather indices into the
// padded image, so every index outside the image reads a zero: the same thing.)
func (a *DiffAugment) translate(dst, src []float32, dir int) {
	h, w := a.h, a.w
	for i, s := range a.Params.Samples {
		th, tw := dir*s.TransH, dir*s.TransW
		// Output columns q in [q0, q1) read src column q+tw inside the image.
		q0, q1 := max(0, -tw), min(w, w-tw)
		for ch := range a.c {
			d, sp := a.plane(dst, ch, i), a.plane(src, ch, i)
			for r := range h {
				row := d[r*w : (r+1)*w]
				sr := r + th
				if sr < 0 || sr >= h || q0 >= q1 {
					clear(row)
					continue
				}
				clear(row[:q0])
				copy(row[q0:q1], sp[sr*w+q0+tw:sr*w+q1+tw])
				clear(row[q1:])
			}
		}
	}
}

// cutout zeroes each image's cutout rectangle in t, in all channels. The official code
// zeroes the clamped indices CH-ch/2+k, k < ch; every such window overlaps the image
// (CH < h+1-ch%2), so clamping is the same as clipping it to the image.
func (a *DiffAugment) cutout(t []float32) {
	h, w := a.h, a.w
	_, _, cutH, cutW, _, _ := AugmentRanges(h, w)
	for i, s := range a.Params.Samples {
		r0, q0 := s.CutH-cutH/2, s.CutW-cutW/2
		r1, q1 := min(r0+cutH, h), min(q0+cutW, w)
		r0, q0 = max(r0, 0), max(q0, 0)
		if q0 >= q1 {
			continue
		}
		for ch := range a.c {
			p := a.plane(t, ch, i)
			for r := r0; r < r1; r++ {
				clear(p[r*w+q0 : r*w+q1])
			}
		}
	}
}
