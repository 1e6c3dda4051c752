// Command spectrum compares the mean power spectrum of a generator's avatars with that
// of the training images: a transposed convolution of stride 2 whose stride phases get
// unequal tap sums adds a fixed periodic pattern (a checkerboard), which shows as excess
// power at the periods of the generator's strides (2 px from the output layer, 4 px from
// the one before). It prints the fake/real power ratio per radial frequency band (luma and
// the two colour differences Cb, Cr: a generator's colour noise shows there) and at those
// periods (each image's mean removed):
//
//	go run ./scripts/spectrum -data FACES_DIR                 # the embedded generator
//	go run ./scripts/spectrum -data FACES_DIR -checkpoint runs/x/ckpt-best.safetensors
//
// The avatars and real images are those `avatargan eval -n N --seed S` compares
// (package evalset; the real images are eval's first set, so the data set must hold 2n).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/cmplx"
	"os"

	"avatargan/dataset"
	"avatargan/internal/evalset"
)

func main() {
	data := flag.String("data", "", "folder of real images (the training set)")
	ckpt := flag.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	n := flag.Int("n", 2048, "images per set")
	seed := flag.Uint64("seed", 1, "seed of the real-image draw and the avatars")
	flag.Parse()
	if err := run(*data, *ckpt, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "spectrum:", err)
		os.Exit(1)
	}
}

func run(data, ckpt string, n int, seed uint64) error {
	// eval's first real set and its avatars (evalset: the same images eval compares).
	size, real, fakes, err := evalset.Load(context.Background(), dataset.Options{Dir: data}, ckpt, n, seed)
	if err != nil {
		return err
	}
	var pr, pf [3][]float64
	for ch := range pr {
		pr[ch], pf[ch] = power(real, size, ch), power(fakes, size, ch)
	}
	half := size / 2
	band := func(ky, kx int) int {
		fy, fx := min(ky, size-ky), min(kx, size-kx)
		return int(math.Round(math.Hypot(float64(fy), float64(fx))))
	}
	nb := band(half, half) + 1
	var sr, sf [3][]float64
	for ch := range sr {
		sr[ch], sf[ch] = make([]float64, nb), make([]float64, nb)
		for ky := 0; ky < size; ky++ {
			for kx := 0; kx < size; kx++ {
				b := band(ky, kx)
				sr[ch][b] += pr[ch][ky*size+kx]
				sf[ch][b] += pf[ch][ky*size+kx]
			}
		}
	}
	fmt.Printf("power of %d avatars / %d real images (%d px)\n", n, n, size)
	fmt.Println("radial band (cycles per image): ratio in Y, Cb, Cr")
	for b := 1; b < nb; b++ {
		fmt.Printf("  %2d: %5.2f %5.2f %5.2f\n", b, sf[0][b]/sr[0][b], sf[1][b]/sr[1][b], sf[2][b]/sr[2][b])
	}
	fmt.Println("stride periods (ky, kx): ratio in Y, Cb, Cr")
	q := size / 4
	for _, k := range [][2]int{{half, half}, {half, 0}, {0, half}, {q, q}, {q, 0}, {0, q}, {half, q}, {q, half}} {
		i := k[0]*size + k[1]
		fmt.Printf("  (%d, %d): %5.2f %5.2f %5.2f\n", k[0], k[1], pf[0][i]/pr[0][i], pf[1][i]/pr[1][i], pf[2][i]/pr[2][i])
	}
	return nil
}

// ycc holds the rows of RGB -> Y, Cb, Cr (JPEG's, without the offsets, which only move
// the mean that power removes).
var ycc = [3][3]float64{{0.299, 0.587, 0.114}, {-0.168736, -0.331264, 0.5}, {0.5, -0.418688, -0.081312}}

// power returns the mean 2-D power spectrum (size x size, row-major by (ky, kx)) of the
// images' channel ch (0 Y, 1 Cb, 2 Cr) with each image's mean removed, by a separable DFT.
func power(imgs [][]uint8, size, ch int) []float64 {
	m := ycc[ch]
	tw := make([]complex128, size)
	for k := range tw {
		tw[k] = cmplx.Exp(complex(0, -2*math.Pi*float64(k)/float64(size)))
	}
	acc := make([]float64, size*size)
	g := make([]float64, size*size)
	rows := make([]complex128, size*size)
	for _, img := range imgs {
		var mean float64
		for p := range g {
			g[p] = m[0]*float64(img[3*p]) + m[1]*float64(img[3*p+1]) + m[2]*float64(img[3*p+2])
			mean += g[p]
		}
		mean /= float64(len(g))
		for y := 0; y < size; y++ {
			for kx := 0; kx < size; kx++ {
				var s complex128
				for x := 0; x < size; x++ {
					s += complex(g[y*size+x]-mean, 0) * tw[kx*x%size]
				}
				rows[y*size+kx] = s
			}
		}
		for ky := 0; ky < size; ky++ {
			for kx := 0; kx < size; kx++ {
				var s complex128
				for y := 0; y < size; y++ {
					s += rows[y*size+kx] * tw[ky*y%size]
				}
				acc[ky*size+kx] += real(s)*real(s) + imag(s)*imag(s)
			}
		}
	}
	for i := range acc {
		acc[i] /= float64(len(imgs))
	}
	return acc
}
