package nn

import (
	"math"
	"math/rand/v2"
)

// SpectralNorm is torch.nn.utils.spectral_norm (one power iteration per training
// forward, eps 1e-12, dim 0) applied to a layer's weight W [out, ...]: the layer
// computes with W = WOrig / sigma, where sigma estimates the largest singular value of
// WOrig viewed as an [out x rest] matrix. It bounds the layer's Lipschitz constant,
// which keeps a discriminator's gradients useful to the generator (Miyato et al. 2018).
//
// The state follows PyTorch's names, so checkpoints load into a spectral-normed
// PyTorch module: "<name>.weight_orig" (trainable, what the optimiser updates),
// "<name>.weight_u" [out] and "<name>.weight_v" [rest] (buffers). The layer's own
// weight param holds the normalised W; its Grad receives dL/dW from the layer's
// Backward, which Backward here turns into dL/dWOrig.
type SpectralNorm struct {
	W     *Param // the layer's weight: normalised copy, and dL/dW from the layer
	Orig  *Param // weight_orig
	U, V  *Param // weight_u, weight_v
	Sigma float64
	// rows x cols is W's matrix view.
	rows, cols int
	acc        []float64 // W^T u of the power iteration, kept across calls
}

// snEps is PyTorch's default eps of spectral_norm: norms are clamped below by it.
const snEps = 1e-12

// NewSpectralNorm wraps w (a layer's weight param named "<name>.weight"). WOrig starts
// as a copy of w's data; call Init to draw u and v.
func NewSpectralNorm(w *Param) *SpectralNorm {
	base := w.Name[:len(w.Name)-len("weight")]
	rows := w.Shape[0]
	cols := len(w.Data) / rows
	s := &SpectralNorm{W: w, rows: rows, cols: cols,
		Orig: newParam(base+"weight_orig", w.Shape...),
		U:    newBuffer(base+"weight_u", rows),
		V:    newBuffer(base+"weight_v", cols)}
	copy(s.Orig.Data, w.Data)
	return s
}

// Init copies the layer's current weight into WOrig and draws u and v as PyTorch
// does: normalize(N(0, 1)) each.
func (s *SpectralNorm) Init(r *rand.Rand) {
	copy(s.Orig.Data, s.W.Data)
	for _, p := range []*Param{s.U, s.V} {
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64())
		}
		normalize(p.Data)
	}
	Touch([]*Param{s.Orig, s.U, s.V})
}

// Params returns weight_orig, weight_u, weight_v.
func (s *SpectralNorm) Params() []*Param { return []*Param{s.Orig, s.U, s.V} }

// normalize scales x to unit L2 norm (norm clamped below by snEps), in float64.
func normalize(x []float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	d := math.Max(math.Sqrt(ss), snEps)
	for i, v := range x {
		x[i] = float32(float64(v) / d)
	}
}

// Forward sets W = WOrig / sigma before the layer's forward. In training mode it first
// runs one power iteration, updating u and v in place (v = normalize(WOrig^T u),
// u = normalize(WOrig v)); in eval mode it uses the stored u and v, as PyTorch does.
// sigma = u . (WOrig v). The products are small (at most 512 x 6400) and run in
// float64.
func (s *SpectralNorm) Forward(train bool) {
	w, u, v := s.Orig.Data, s.U.Data, s.V.Data
	if train {
		// v = W^T u
		// Every training forward of D runs this: reuse the accumulator.
		if len(s.acc) != s.cols {
			s.acc = make([]float64, s.cols)
		}
		acc := s.acc
		clear(acc)
		for i := 0; i < s.rows; i++ {
			ui := float64(u[i])
			row := w[i*s.cols : (i+1)*s.cols]
			for j, x := range row {
				acc[j] += ui * float64(x)
			}
		}
		for j := range v {
			v[j] = float32(acc[j])
		}
		normalize(v)
		// u = W v
		for i := 0; i < s.rows; i++ {
			u[i] = float32(dot64(w[i*s.cols:(i+1)*s.cols], v))
		}
		normalize(u)
		Touch([]*Param{s.U, s.V})
	}
	// PyTorch recomputes W v here even after the iteration (where sigma = |W v|
	// algebraically); so do we, so that float rounding follows the same formula.
	var sigma float64
	for i := 0; i < s.rows; i++ {
		sigma += float64(u[i]) * dot64(w[i*s.cols:(i+1)*s.cols], v)
	}
	s.Sigma = sigma
	inv := 1 / sigma
	for i, x := range w {
		s.W.Data[i] = float32(float64(x) * inv)
	}
	s.W.Version++
}

func dot64(a, b []float32) float64 {
	var s float64
	for i, x := range a {
		s += float64(x) * float64(b[i])
	}
	return s
}

// Backward turns the layer's accumulated dL/dW (W.Grad, which it then clears) into
// dL/dWOrig, added to Orig.Grad. With u and v held constant, as PyTorch's hook does,
// W = WOrig / sigma and sigma = u^T WOrig v give
//
//	dL/dWOrig = (G - <G, W> u v^T) / sigma,   G = dL/dW.
//
// Call it after each backward pass through the layer that followed a Forward, before
// the next Forward changes sigma, u or v.
func (s *SpectralNorm) Backward() {
	g, wn := s.W.Grad, s.W.Data
	gw := dot64(g, wn)
	inv := 1 / s.Sigma
	u, v, og := s.U.Data, s.V.Data, s.Orig.Grad
	for i := 0; i < s.rows; i++ {
		cu := gw * float64(u[i])
		for j := 0; j < s.cols; j++ {
			k := i*s.cols + j
			og[k] += float32((float64(g[k]) - cu*float64(v[j])) * inv)
		}
	}
	clear(g)
}
