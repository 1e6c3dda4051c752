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
// The avatars are those of eval's seeds (seed<<32 + i), the real images eval's first
// draw of the same seed.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/models"
	"avatargan/render"
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
	if set.Len() < n {
		return fmt.Errorf("%s has %d images, fewer than -n %d", data, set.Len(), n)
	}
	perm := rand.New(rand.NewPCG(seed, 0xe7a1)).Perm(set.Len())
	real := make([][]uint8, n)
	for i := range real {
		real[i] = set.Image(perm[i])
	}
	fakes := make([][]uint8, 0, n)
	for lo := 0; lo < n; lo += 256 {
		seeds := make([]uint64, min(256, n-lo))
		for i := range seeds {
			seeds[i] = seed<<32 + uint64(lo+i)
		}
		imgs, err := m.Generate(m.Seeds(seeds...))
		if err != nil {
			return err
		}
		for _, img := range imgs {
			fakes = append(fakes, render.RGB(img))
		}
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
