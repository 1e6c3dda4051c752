package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"

	"avatargan/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Record is one line of a run's metrics.jsonl: the statistics of one training iteration.
type Record struct {
	Step  int     `json:"step"`
	Epoch int     `json:"epoch"`
	DLoss float64 `json:"d_loss"`
	DReal float64 `json:"d_x"`
	DFake float64 `json:"d_g_z"`
	// GLoss is the G loss of the iteration's last G step; nil on an iteration without
	// G steps (dcgan.Config.DSteps > 1).
	GLoss    *float64 `json:"g_loss,omitempty"`
	ImagesPS float64  `json:"images_per_s"`
	// R1 is the R1 penalty of the D step (gamma/2 E|dD/dx|^2), on the steps that took it.
	R1 float64 `json:"r1,omitempty"`
	// Spectrum is the unweighted spectrum loss of the last G step (dcgan.Config.SpectrumLoss), when on.
	Spectrum float64 `json:"spectrum_loss,omitempty"`
	// Patch is the unweighted patch loss of the last G step (dcgan.Config.PatchLoss), when on.
	Patch float64 `json:"patch_loss,omitempty"`
	// SWD (x1e3, the average over pyramid levels) and its levels, on the steps where
	// --eval-every scored the sampling generator.
	SWD       *float64  `json:"swd,omitempty"`
	SWDLevels []float64 `json:"swd_levels,omitempty"`
	// Faces is the fraction of the same avatars in which the anime-face detector finds a
	// face (facedetect.HasFace, no face check): the broken faces SWD hardly sees.
	Faces     *float64 `json:"faces,omitempty"`
	ElapsedS  float64  `json:"elapsed_s"`
	Timestamp string   `json:"time"`
}

// maxRecordLine bounds one metrics.jsonl line: a record is ~200 bytes, so a longer line
// is damage (a torn write, garbage) and is skipped without being held in memory.
const maxRecordLine = 64 << 10

// ReadRecords reads a metrics.jsonl file, keeping records with step <= maxStep (so a
// resumed run drops the lines written after its checkpoint) and skipping lines that are
// not records (a torn last line, garbage of any length).
func ReadRecords(path string, maxStep int) ([]Record, error) {
	recs, _, err := readRecords(path, maxStep)
	return recs, err
}

// readRecords is ReadRecords that also counts the lines it skipped as unreadable.
// Errors name the file.
func readRecords(path string, maxStep int) (out []Record, bad int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, maxRecordLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if err == io.EOF {
			return out, bad, nil
		}
		if err != nil {
			return out, bad, fmt.Errorf("%s: %w", path, err)
		}
		if isPrefix {
			// Too long for a record: skip the rest of the line.
			for isPrefix && err == nil {
				_, isPrefix, err = br.ReadLine()
			}
			if err != nil && err != io.EOF {
				return out, bad, fmt.Errorf("%s: %w", path, err)
			}
			bad++
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		if json.Unmarshal(line, &r) != nil || r.Step < 1 {
			bad++
			continue
		}
		if r.Step <= maxStep {
			out = append(out, r)
		}
	}
}

// writeRecords rewrites metrics.jsonl atomically with exactly recs; used on resume so the
// file never holds lines from steps the run is about to redo.
func writeRecords(path string, recs []Record) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// PlotLosses draws the D and G loss curves of recs to a PNG. The curves are moving
// averages over window records (the raw per-step losses are too noisy to read; G's
// over the last window records that have a G loss), and the
// title and legend say so; the legend sits in a margin right of the plot, never over
// the curves.
func PlotLosses(path string, recs []Record, window int) error {
	if len(recs) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("avatargan training losses (moving average over %d steps)", window)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (moving average)"
	d := make(plotter.XYs, 0, len(recs))
	g := make(plotter.XYs, 0, len(recs))
	var sd, sg float64
	var gl []float64 // the G losses so far
	for i, r := range recs {
		sd += r.DLoss
		if i >= window {
			sd -= recs[i-window].DLoss
		}
		d = append(d, plotter.XY{X: float64(r.Step), Y: sd / float64(min(i+1, window))})
		if r.GLoss == nil {
			continue
		}
		gl = append(gl, *r.GLoss)
		sg += *r.GLoss
		if len(gl) > window {
			sg -= gl[len(gl)-1-window]
		}
		g = append(g, plotter.XY{X: float64(r.Step), Y: sg / float64(min(len(gl), window))})
	}
	ld, err := plotter.NewLine(d)
	if err != nil {
		return err
	}
	lg, err := plotter.NewLine(g)
	if err != nil {
		return err
	}
	ld.Color = plotColor(0)
	lg.Color = plotColor(1)
	p.Add(ld, lg, plotter.NewGrid())
	// The legend is drawn by hand in a right margin: plot.Legend only draws inside
	// the data area, where it hides the curves' ends.
	leg := plot.NewLegend()
	leg.Add("D loss", ld)
	leg.Add("G loss", lg)
	leg.Top, leg.Left = true, true
	const w, h, margin = 9 * vg.Inch, 4 * vg.Inch, 1.2 * vg.Inch
	c, err := draw.NewFormattedCanvas(w, h, "png")
	if err != nil {
		return err
	}
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -margin, 0, 0))
	leg.Draw(draw.Crop(dc, w-margin+vg.Points(8), 0, 0, -p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y-p.Title.Padding-vg.Points(8)))
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := c.WriteTo(w)
		return err
	})
}

// plotColor returns a distinct colour for series i of a plot.
func plotColor(i int) color.Color {
	cs := []color.Color{
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	}
	return cs[i%len(cs)]
}

// FormatLoss formats an optional loss with prec decimals, or "-" when absent (a G loss
// on an iteration without G steps).
func FormatLoss(v *float64, prec int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, *v)
}
