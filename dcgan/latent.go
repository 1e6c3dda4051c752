package dcgan

import "math/rand/v2"

// Dist is the distribution latent vectors are drawn from.
type Dist int

const (
	// Uniform draws each latent component from U(-1, 1), as the original.
	Uniform Dist = iota
	// Normal draws each latent component from N(0, 1).
	Normal
)

// Latent fills z with the latent vector of seed. Every tool (generate, interpolate,
// serve, eval) derives the vector of a seed through this one function, so the same
// seed gives the same avatar everywhere; generate -n N --seed S uses seeds S..S+N-1.
func Latent(seed uint64, dist Dist, z []float32) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for i := range z {
		if dist == Normal {
			z[i] = float32(r.NormFloat64())
		} else {
			z[i] = float32(2*r.Float64() - 1)
		}
	}
}
