package train

import (
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"avatargan/dcgan"
	"avatargan/facedetect"
	"avatargan/internal/atomicfile"
	"avatargan/metrics"
	"avatargan/render"
)

// Files of quality tracking in a run directory.
const (
	QualityPlot = "quality.png"
	// BestCheckpoint is the checkpoint of the step with the lowest SWD so far. It is a
	// full training checkpoint, outside the rotation of the last Keep ones.
	BestCheckpoint = "ckpt-best.safetensors"
)

// evalSeedBase offsets the latent seeds of the quality evaluation from the sample
// grid's (0..63) and the CLI's defaults, so its avatars are a fixed, separate set.
const evalSeedBase = 1 << 40

// quality scores the sampling generator during training: SWD (package metrics'
// defaults, as avatargan eval) of EvalN generated avatars against a fixed draw of EvalN
// images of the cached data set, and the fraction of those avatars in which the
// anime-face detector finds a face. Everything it draws comes from its own fixed seeds,
// never from the run's streams (latents and data order are functions of the step), so
// evaluating changes nothing in training.
type quality struct {
	real      [][]uint8
	opts      metrics.Options
	floor     metrics.Result
	best      float64             // lowest SWD average so far (+Inf before the first)
	cascade   *facedetect.Cascade // the anime-face detector, for Record.Faces
	realFaces float64             // the fraction of the real draw it finds a face in
}

// newQuality draws the real set: EvalN images by a permutation seeded by the run's
// seed. With at least 2*EvalN images a disjoint second draw gives the real-vs-real
// floor at the same n, reported in the log and on the plot.
func (r *Run) newQuality() (*quality, error) {
	n := r.Cfg.EvalN
	if n > r.Data.Len() {
		return nil, fmt.Errorf("train: --eval-n %d is more than the %d images of the data set", n, r.Data.Len())
	}
	perm := rand.New(rand.NewPCG(r.Cfg.Model.Seed, 0x9a11)).Perm(r.Data.Len())
	q := &quality{opts: metrics.DefaultOptions(), best: math.Inf(1), cascade: facedetect.AnimeFace()}
	for _, i := range perm[:n] {
		q.real = append(q.real, r.Data.Image(i))
	}
	q.realFaces = q.faceRate(q.real, r.Data.Size())
	if 2*n <= r.Data.Len() {
		other := make([][]uint8, n)
		for k, i := range perm[n : 2*n] {
			other[k] = r.Data.Image(i)
		}
		f, err := metrics.SWD(q.real, other, r.Data.Size(), q.opts)
		if err != nil {
			return nil, err
		}
		q.floor = f
	}
	for _, rec := range r.records {
		if rec.SWD != nil && *rec.SWD < q.best {
			q.best = *rec.SWD
		}
	}
	return q, nil
}

// faceRate is the fraction of imgs (packed RGB) in which the detector finds a face.
func (q *quality) faceRate(imgs [][]uint8, size int) float64 {
	crops := make([]image.Image, len(imgs))
	for i, px := range imgs {
		crops[i] = render.FromRGB(px, size)
	}
	return float64(q.cascade.CountFaces(crops)) / float64(max(1, len(imgs)))
}

// evaluate returns the SWD of the sampling generator (EMA weights when kept) and its
// avatars.
func (r *Run) evaluate() (metrics.Result, [][]uint8, error) {
	m := r.Cfg.Model
	g := r.SamplerGenerator()
	n := len(r.quality.real)
	fakes := make([][]uint8, 0, n)
	const chunk = 64
	z := make([]float32, chunk*m.ZDim)
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		for i := 0; i < k; i++ {
			dcgan.Latent(evalSeedBase+uint64(lo+i), m.Dist, z[i*m.ZDim:(i+1)*m.ZDim])
		}
		x := g.Forward(z[:k*m.ZDim], k, false)
		for _, img := range render.ToImages(x, k, m.Size) {
			fakes = append(fakes, render.RGB(img))
		}
	}
	res, err := metrics.SWD(r.quality.real, fakes, m.Size, r.quality.opts)
	return res, fakes, err
}

// PlotQuality draws SWD (x1e3, average over levels) against step, with the
// real-vs-real floor at the same n when known (floor > 0), and below it, when the
// records have them, the face detector's rate on the same avatars.
func PlotQuality(path string, recs []Record, floor float64) error {
	var pts, faces plotter.XYs
	for _, r := range recs {
		if r.SWD != nil {
			pts = append(pts, plotter.XY{X: float64(r.Step), Y: *r.SWD})
		}
		if r.Faces != nil {
			faces = append(faces, plotter.XY{X: float64(r.Step), Y: 100 * *r.Faces})
		}
	}
	if len(pts) == 0 {
		return nil
	}
	p, l, s, err := stepPlot("avatargan sample quality (SWD of the sampling generator, lower is better)",
		"SWD x1e3 (average of levels)", pts, 1)
	if err != nil {
		return err
	}
	p.Legend.Add("generated vs real", l, s)
	if floor > 0 {
		f, err := plotter.NewLine(plotter.XYs{{X: pts[0].X, Y: floor}, {X: pts[len(pts)-1].X, Y: floor}})
		if err != nil {
			return err
		}
		f.Color = plotColor(0)
		f.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(f)
		p.Legend.Add("real vs real (floor)", f)
	}
	p.Legend.Top = true
	p.Legend.XOffs = -vg.Points(8)
	var fp *plot.Plot
	if len(faces) > 0 {
		if fp, _, _, err = stepPlot("anime face found by the detector (% of the same avatars; real faces ~99%)",
			"% with a face", faces, 2); err != nil {
			return err
		}
		fp.X.Min, fp.X.Max = p.X.Min, p.X.Max
	}
	img := vgimg.NewWith(vgimg.UseWH(8*vg.Inch, 4*vg.Inch), vgimg.UseDPI(96))
	if fp == nil {
		p.Draw(draw.New(img))
	} else { // SWD above the face rate, x axes aligned
		img = vgimg.NewWith(vgimg.UseWH(8*vg.Inch, 7*vg.Inch), vgimg.UseDPI(96))
		cs := plot.Align([][]*plot.Plot{{p}, {fp}}, draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(10)}, draw.New(img))
		p.Draw(cs[0][0])
		fp.Draw(cs[1][0])
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}

// stepPlot is a plot of pts against step, with a grid, drawn as a line with points in
// plotColor(colour).
func stepPlot(title, yLabel string, pts plotter.XYs, colour int) (*plot.Plot, *plotter.Line, *plotter.Scatter, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = yLabel
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, nil, nil, err
	}
	l.Color, s.Color = plotColor(colour), plotColor(colour)
	p.Add(l, s, plotter.NewGrid())
	return p, l, s, nil
}

// trackQuality evaluates the current step, records it in rec, plots the curve and
// keeps the best checkpoint. It runs between training steps.
func (r *Run) trackQuality(rec *Record) error {
	if r.quality == nil {
		q, err := r.newQuality()
		if err != nil {
			return err
		}
		r.quality = q
		if q.floor.Average > 0 {
			fmt.Fprintf(r.Opts.Log, "quality: SWD x1e3 of %d avatars every %d steps; real-vs-real floor at that n: %.2f; anime face found in %.1f%% of the real draw\n",
				len(q.real), r.Cfg.EvalEvery, q.floor.Average, 100*q.realFaces)
		}
	}
	res, fakes, err := r.evaluate()
	if err != nil {
		return err
	}
	avg, faces := res.Average, r.quality.faceRate(fakes, r.Cfg.Model.Size)
	rec.SWD, rec.SWDLevels, rec.Faces = &avg, res.PerLevel, &faces
	fmt.Fprintf(r.Opts.Log, "step %d: SWD x1e3 %.2f (%v); anime face found in %.1f%%\n", r.Step, avg, res, 100*faces)
	if avg < r.quality.best {
		r.quality.best = avg
		if err := r.saveAs(filepath.Join(r.Opts.Dir, BestCheckpoint)); err != nil {
			return err
		}
	}
	return nil
}
