package train

import (
	"image/png"
	"io"
	"path/filepath"

	"avatargan/internal/atomicfile"
	"avatargan/render"
)

// RealSamples is the grid of training images as the model sees them (cropped, resized,
// flipped when --flip), written in the run directory when the run starts, to compare
// with the generated samples.
const RealSamples = "real_samples.png"

// writeRealSamples draws the first 64 images of the run's first epoch, in training
// order, from a batcher of the run's own settings (its order and flips are a pure
// function of the seed, so these are exactly the images of the first steps).
func (r *Run) writeRealSamples() error {
	m := r.Cfg.Model
	b, err := r.Data.Batches(batchOptions(r.Cfg))
	if err != nil {
		return err
	}
	want := min(64, r.Data.Len())
	stride := 3 * m.Size * m.Size
	x := make([]float32, 0, (want+m.Batch)*stride)
	buf := make([]float32, m.Batch*stride)
	for have := 0; have < want; {
		epoch, _, n := b.Next(buf)
		if epoch > 0 {
			break
		}
		x = append(x, buf[:n*stride]...)
		have += n
	}
	n := min(want, len(x)/stride)
	grid := render.Grid(render.ToImages(x[:n*stride], n, m.Size), render.GridCols(n), 2)
	return atomicfile.Write(filepath.Join(r.Opts.Dir, RealSamples), func(w io.Writer) error {
		return (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, grid)
	})
}
