package nn

import (
	"math"

	"avatargan/internal/gemm"
)

// Adam is torch.optim.Adam (no weight decay, not amsgrad): bias-corrected moments,
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), in float32 like PyTorch's
// float32 params.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	// T is the number of steps taken (PyTorch's state 'step').
	T int64
	// Params are the trainable params; M and V their first and second moments.
	Params []*Param
	M, V   [][]float32
}

// NewAdam returns an Adam over the trainable (non-buffer) entries of params.
func NewAdam(params []*Param, lr, beta1, beta2, eps float64) *Adam {
	a := &Adam{LR: lr, Beta1: beta1, Beta2: beta2, Eps: eps, Params: Trainable(params)}
	for _, p := range a.Params {
		a.M = append(a.M, make([]float32, len(p.Data)))
		a.V = append(a.V, make([]float32, len(p.Data)))
	}
	return a
}

// Step applies one update from the params' current gradients.
func (a *Adam) Step() {
	a.T++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.T))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.T))
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	step := float32(a.LR / bc1)
	bc2s := float32(math.Sqrt(bc2))
	eps := float32(a.Eps)
	k := [8]float32{b1, 1 - b1, b2, 1 - b2, step, bc2s, eps}
	for i, p := range a.Params {
		p.Version++
		w, g, m, v := p.Data, p.Grad, a.M[i], a.V[i]
		gemm.ParallelFor(len(w), 1<<15, func(lo, hi int) {
			if useAVX {
				adamAVX(&w[lo], &g[lo], &m[lo], &v[lo], hi-lo, &k)
				return
			}
			adamGo(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], &k)
		})
	}
}

// adamGo is adamAVX in Go: k holds b1, 1-b1, b2, 1-b2, step, sqrt(bc2), eps.
//
// Every product is rounded to float32 (the explicit conversions) before it is added:
// the Go spec lets the compiler fuse x*y + z into one FMA, rounded once, and it does
// with GOAMD64=v3 or on arm64, which would make the update differ in the last bit from
// adamAVX (separate VMULPS and VADDPS) and between builds. An explicit conversion
// forbids the fusion, so the result is the same on every build and path.
func adamGo(w, g, m, v []float32, k *[8]float32) {
	b1, c1, b2, c2, step, bc2s, eps := k[0], k[1], k[2], k[3], k[4], k[5], k[6]
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j := range w {
		gj := g[j]
		mj := float32(b1*m[j]) + float32(c1*gj)
		vj := float32(b2*v[j]) + float32(float32(c2*gj)*gj)
		m[j], v[j] = mj, vj
		w[j] -= float32(step*mj) / (float32(math.Sqrt(float64(vj)))/bc2s + eps)
	}
}

// State returns the optimiser state for serialisation: "step" (a Count) then, for each
// param, "<name>.exp_avg" and "<name>.exp_avg_sq" (PyTorch's state keys). The tensors
// alias the live state, so writing through them restores a checkpoint.
func (a *Adam) State() []NamedTensor {
	out := []NamedTensor{{Name: "step", Shape: []int{}, Count: &a.T}}
	for i, p := range a.Params {
		out = append(out,
			NamedTensor{Name: p.Name + ".exp_avg", Shape: p.Shape, Data: a.M[i]},
			NamedTensor{Name: p.Name + ".exp_avg_sq", Shape: p.Shape, Data: a.V[i]})
	}
	return out
}
