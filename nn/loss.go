package nn

import "math"

// BCEWithLogits returns the mean over x of binary cross-entropy between sigmoid(x) and
// a constant target, computed in the stable form max(x,0) - x*t + log1p(exp(-|x|))
// (PyTorch's), in float64. If grad is non-nil it receives d loss / d x =
// (sigmoid(x) - t) / len(x).
func BCEWithLogits(x []float32, target float32, grad []float32) float64 {
	t := float64(target)
	n := float64(len(x))
	var s float64
	for i, v32 := range x {
		v := float64(v32)
		s += math.Max(v, 0) - v*t + math.Log1p(math.Exp(-math.Abs(v)))
		if grad != nil {
			grad[i] = float32((Sigmoid(v) - t) / n)
		}
	}
	return s / n
}

// Sigmoid is 1/(1+exp(-x)), written to avoid overflow for large |x|.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// MeanSigmoid returns the mean of sigmoid(x): the discriminator's mean probability.
func MeanSigmoid(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += Sigmoid(float64(v))
	}
	return s / float64(len(x))
}

// HingeD returns the discriminator's hinge loss mean(relu(1 - sign*x)) for logits x of
// real (sign +1) or fake (sign -1) images (Lim & Ye 2017; Miyato et al. 2018), in
// float64. If grad is non-nil it receives d loss / d x = -sign/len(x) where the hinge
// is active (1 - sign*x > 0), else 0 (PyTorch's relu gradient at 0).
func HingeD(x []float32, sign float32, grad []float32) float64 {
	n := float64(len(x))
	var s float64
	for i, v := range x {
		m := 1 - float64(sign)*float64(v)
		if m > 0 {
			s += m
		}
		if grad != nil {
			if m > 0 {
				grad[i] = float32(-float64(sign) / n)
			} else {
				grad[i] = 0
			}
		}
	}
	return s / n
}

// HingeG returns the generator's hinge loss -mean(x) for the logits x of its images;
// if grad is non-nil it receives -1/len(x).
func HingeG(x []float32, grad []float32) float64 {
	n := float64(len(x))
	var s float64
	for i, v := range x {
		s += float64(v)
		if grad != nil {
			grad[i] = float32(-1 / n)
		}
	}
	return -s / n
}
