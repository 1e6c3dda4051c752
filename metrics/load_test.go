package metrics

import (
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	"os"
)

// loadFaces decodes JPEGs and box-downsamples them by an integer factor to size x size,
// as the training pipeline does for 96 -> 48.
func loadFaces(names []string, size int) ([][]uint8, error) {
	out := make([][]uint8, 0, len(names))
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			return nil, err
		}
		im, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		b := im.Bounds()
		if b.Dx() != b.Dy() || b.Dx()%size != 0 {
			return nil, fmt.Errorf("%s: %dx%d is not a multiple of %d", n, b.Dx(), b.Dy(), size)
		}
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), im, b.Min, draw.Src)
		k := b.Dx() / size
		px := make([]uint8, size*size*3)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				for c := 0; c < 3; c++ {
					s := 0
					for dy := 0; dy < k; dy++ {
						for dx := 0; dx < k; dx++ {
							s += int(rgba.Pix[(y*k+dy)*rgba.Stride+(x*k+dx)*4+c])
						}
					}
					px[(y*size+x)*3+c] = uint8((s + k*k/2) / (k * k))
				}
			}
		}
		out = append(out, px)
	}
	return out, nil
}
