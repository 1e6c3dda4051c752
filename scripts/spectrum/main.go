// Command spectrum compares the mean power spectrum of a generator's avatars with that
// of the training images: a transposed convolution of stride 2 whose stride phases get
// unequal tap sums adds a fixed periodic pattern (a checkerboard), which shows as excess
// power at the periods of the generator's strides (2 px from the output layer, 4 px from
// the one before). It prints the fake/real power ratio per radial frequency band and at
// those periods (luma, each image's mean removed):
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

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/internal/evalset"
	"avatargan/models"
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
	if data == "" || n < 1 {
		return fmt.Errorf("-data is required and -n must be positive")
	}
	var m *avatar.Model
	var err error
	if ckpt == "" {
		m, err = models.Default()
	} else {
		m, err = avatar.LoadWith(ckpt, false)
	}
	if err != nil {
		return err
	}
	size := m.Size()
	set, _, err := dataset.LoadContext(context.Background(), dataset.Options{Dir: data, Size: size})
	if err != nil {
		return err
	}
	// eval's first real set and its avatars (evalset: the same images eval compares).
	real, _, err := evalset.Real(set, n, seed)
	if err != nil {
		return err
	}
	fakes, err := evalset.Avatars(context.Background(), m, n, seed)
	if err != nil {
		return err
	}
	pr, pf := power(real, size), power(fakes, size)
	half := size / 2
	band := func(ky, kx int) int {
		fy, fx := min(ky, size-ky), min(kx, size-kx)
		return int(math.Round(math.Hypot(float64(fy), float64(fx))))
	}
	nb := band(half, half) + 1
	sr, sf, cnt := make([]float64, nb), make([]float64, nb), make([]int, nb)
	for ky := 0; ky < size; ky++ {
		for kx := 0; kx < size; kx++ {
			b := band(ky, kx)
			sr[b] += pr[ky*size+kx]
			sf[b] += pf[ky*size+kx]
			cnt[b]++
		}
	}
	fmt.Printf("power of %d avatars / %d real images (%d px, luma)\n", n, n, size)
	fmt.Println("radial band (cycles per image): ratio")
	for b := 1; b < nb; b++ {
		fmt.Printf("  %2d: %.2f\n", b, sf[b]/sr[b])
	}
	fmt.Println("stride periods (ky, kx): ratio")
	q := size / 4
	for _, k := range [][2]int{{half, half}, {half, 0}, {0, half}, {q, q}, {q, 0}, {0, q}, {half, q}, {q, half}} {
		i := k[0]*size + k[1]
		fmt.Printf("  (%d, %d): %.2f\n", k[0], k[1], pf[i]/pr[i])
	}
	return nil
}

// power returns the mean 2-D power spectrum (size x size, row-major by (ky, kx)) of the
// images' luma with each image's mean removed, by a separable DFT.
func power(imgs [][]uint8, size int) []float64 {
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
			g[p] = 0.299*float64(img[3*p]) + 0.587*float64(img[3*p+1]) + 0.114*float64(img[3*p+2])
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
