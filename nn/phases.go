package nn

// BalancePhases projects a transposed convolution's weights so that, for every (input,
// output) channel pair, the stride x stride output phases receive equal sums of kernel
// taps: output pixel o of a stride-s transposed convolution collects the taps k with
// k = o + pad (mod s), so a phase whose taps sum higher than another's turns a smooth
// input into a periodic pattern (the checkerboard of Odena et al. 2016). With equal
// sums a constant input gives a constant output.
//
// The projection is orthogonal (the smallest change in L2): each phase's taps shift by
// one common amount, (T - S_p)/n_p for a phase of n_p taps summing to S_p, with T the
// common sum that minimises the change. It is linear and idempotent, so an
// exponential moving average of projected weights stays projected.
func (c *ConvTranspose2d) BalancePhases() {
	BalancePhases(c.Weight.Data, c.InC*c.OutC, c.K, c.Stride)
	Touch([]*Param{c.Weight})
}

// BalancePhases is ConvTranspose2d.BalancePhases on pairs kernels of k x k taps stored
// back to back in w (PyTorch's [in, out, k, k] layout), for stride s.
func BalancePhases(w []float32, pairs, k, s int) {
	if s < 2 {
		return // one phase: nothing to balance
	}
	if len(w) != pairs*k*k {
		panic("nn: BalancePhases: weight length does not match pairs x k x k")
	}
	phase := make([]int, k*k)
	count := make([]float64, s*s)
	for ky := 0; ky < k; ky++ {
		for kx := 0; kx < k; kx++ {
			p := (ky%s)*s + kx%s
			phase[ky*k+kx] = p
			count[p]++
		}
	}
	// A phase with no taps (k < s) has sum 0 and cannot move: balancing would force
	// every phase to 0, so only phases with taps take part.
	var inv float64
	for _, n := range count {
		if n > 0 {
			inv += 1 / n
		}
	}
	sums := make([]float64, s*s)
	for pair := 0; pair < pairs; pair++ {
		ker := w[pair*k*k : (pair+1)*k*k]
		clear(sums)
		for i, v := range ker {
			sums[phase[i]] += float64(v)
		}
		// T minimises sum_p n_p * ((T - S_p)/n_p)^2, the squared change.
		var t float64
		for p, n := range count {
			if n > 0 {
				t += sums[p] / n
			}
		}
		t /= inv
		for i := range ker {
			p := phase[i]
			ker[i] += float32((t - sums[p]) / count[p])
		}
	}
}
