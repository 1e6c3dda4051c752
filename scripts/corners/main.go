// Command corners measures how much a generator's border pixels, its four corners above
// all, stand out from their neighbours, against the training images. A pixel's
// deviation is |v - mean of its neighbours inside the image| (8 inside, 3 at a corner),
// averaged over RGB and the images, in 8-bit levels. A generator trained with the
// unwindowed spectrum loss learns spikes in its corner pixels, which that loss rewards
// (see nn.SpectrumLoss's Window); they show in a grid as dots at the avatars' corners.
//
//	go run ./scripts/corners -data FACES_DIR                 # the embedded generator
//	go run ./scripts/corners -data FACES_DIR -checkpoint runs/x/ckpt-best.safetensors
//	go run ./scripts/corners -data FACES_DIR -swd -n 4096     # and what the corners cost
//
// With -swd it also scores the avatars as they are and with each corner pixel replaced by
// its neighbours' mean (rounded): SWD (metrics.SWD with eval's options) and the
// unwindowed spectrum loss (nn.SpectrumLoss) against the real set.
//
// The avatars and real images are those `avatargan eval -n N --seed S` compares
// (package evalset), without the face check.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"avatargan/dataset"
	"avatargan/internal/evalset"
	"avatargan/metrics"
	"avatargan/nn"
)

func main() {
	data := flag.String("data", "", "folder of real images (the training set)")
	ckpt := flag.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	n := flag.Int("n", 1024, "images per set")
	seed := flag.Uint64("seed", 1, "seed of the real-image draw and the avatars")
	swd := flag.Bool("swd", false, "also score the avatars with their corners smoothed (SWD, spectrum loss)")
	flag.Parse()
	if err := run(*data, *ckpt, *n, *seed, *swd); err != nil {
		fmt.Fprintln(os.Stderr, "corners:", err)
		os.Exit(1)
	}
}

func run(data, ckpt string, n int, seed uint64, swd bool) error {
	// eval's first real set and its avatars (evalset: the same images eval compares).
	size, real, fakes, err := evalset.Load(context.Background(), dataset.Options{Dir: data}, ckpt, n, seed)
	if err != nil {
		return err
	}
	r, f := summarise(deviation(real, size), size), summarise(deviation(fakes, size), size)
	fmt.Printf("mean |pixel - its neighbours' mean| in 8-bit levels, %d avatars / %d real images (%d px)\n", n, n, size)
	fmt.Printf("%-22s %8s %8s %6s\n", "", "avatars", "real", "ratio")
	for i, name := range []string{"corners", "  top-left", "  top-right", "  bottom-left", "  bottom-right", "rest of the border", "interior"} {
		fmt.Printf("%-22s %8.2f %8.2f %6.2f\n", name, f[i], r[i], f[i]/r[i])
	}
	if !swd {
		return nil
	}
	smooth := make([][]uint8, len(fakes))
	for i, img := range fakes {
		smooth[i] = smoothCorners(img, size)
	}
	mo := metrics.DefaultOptions()
	mo.Seed = seed
	sl := nn.NewSpectrumLoss(size, size)
	sl.SetTarget(cnhw(real, size), n)
	for _, c := range []struct {
		name string
		imgs [][]uint8
	}{{"avatars as they are", fakes}, {"corners smoothed", smooth}} {
		res, err := metrics.SWD(real, c.imgs, size, mo)
		if err != nil {
			return err
		}
		fmt.Printf("%-20s SWD %s  spectrum loss %.4f\n", c.name, res, sl.Forward(cnhw(c.imgs, size), n))
	}
	return nil
}

// smoothCorners returns a copy of img (packed RGB) with each corner pixel replaced by the
// rounded mean of its three neighbours.
func smoothCorners(img []uint8, size int) []uint8 {
	out := append([]uint8(nil), img...)
	l := size - 1
	for _, c := range [][4]int{{0, 0, 1, 1}, {0, l, 1, -1}, {l, 0, -1, 1}, {l, l, -1, -1}} {
		y, x, dy, dx := c[0], c[1], c[2], c[3]
		for ch := 0; ch < 3; ch++ {
			s := int(img[3*((y+dy)*size+x)+ch]) + int(img[3*(y*size+x+dx)+ch]) + int(img[3*((y+dy)*size+x+dx)+ch])
			out[3*(y*size+x)+ch] = uint8((s + 1) / 3)
		}
	}
	return out
}

// cnhw returns packed RGB images as one CNHW float32 tensor in [-1, 1] (nn's layout).
func cnhw(imgs [][]uint8, size int) []float32 {
	n, hw := len(imgs), size*size
	out := make([]float32, 3*n*hw)
	for b, img := range imgs {
		for p := 0; p < hw; p++ {
			for ch := 0; ch < 3; ch++ {
				out[(ch*n+b)*hw+p] = float32(img[3*p+ch])/127.5 - 1
			}
		}
	}
	return out
}

// deviation returns, per pixel (size x size, row-major), the mean over the images (packed
// RGB) and their three channels of |v - mean of v's neighbours inside the image|.
func deviation(imgs [][]uint8, size int) []float64 {
	acc := make([]float64, size*size)
	for _, img := range imgs {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				for c := 0; c < 3; c++ {
					var s, k float64
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							yy, xx := y+dy, x+dx
							if (dy == 0 && dx == 0) || yy < 0 || xx < 0 || yy >= size || xx >= size {
								continue
							}
							s += float64(img[3*(yy*size+xx)+c])
							k++
						}
					}
					d := float64(img[3*(y*size+x)+c]) - s/k
					acc[y*size+x] += max(d, -d)
				}
			}
		}
	}
	for i := range acc {
		acc[i] /= float64(3 * len(imgs))
	}
	return acc
}

// summarise returns the mean of the four corners, each corner (top-left, top-right,
// bottom-left, bottom-right), the rest of the border and the interior of a per-pixel map.
func summarise(d []float64, size int) [7]float64 {
	l := size - 1
	tl, tr, bl, br := d[0], d[l], d[l*size], d[l*size+l]
	var border, inner float64
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			switch {
			case (y == 0 || y == l) && (x == 0 || x == l):
			case y == 0 || y == l || x == 0 || x == l:
				border += d[y*size+x]
			default:
				inner += d[y*size+x]
			}
		}
	}
	return [7]float64{(tl + tr + bl + br) / 4, tl, tr, bl, br, border / float64(4*(size-2)), inner / float64((size-2)*(size-2))}
}
