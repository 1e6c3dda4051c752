// Command studyplot draws the quality curves of several training runs in one plot: the
// SWD (x1e3, n as the runs' --eval-n) that `avatargan train --eval-every` wrote to each
// run's metrics.jsonl, against the images seen by D. It makes docs/study/quality.png
// from the run directories of scripts/recipe_study.sh:
//
//	go run ./scripts/studyplot -out docs/study/quality.png runs/study/{original,g1,ttur,sngan,sngan-da,sngan-da-seed2}
//
// and docs/quality.png, the long run's branches (docs/training.md), with -title.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func main() {
	out := flag.String("out", "quality.png", "output PNG")
	batch := flag.Int("batch", 64, "images per step")
	title := flag.String("title", "recipe study: SWD of the EMA generator (n = 1024), lower is better", "plot title")
	flag.Parse()
	if err := run(*out, *title, *batch, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "studyplot:", err)
		os.Exit(1)
	}
}

func run(out, title string, batch int, dirs []string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "thousands of real images seen by D"
	p.Y.Label.Text = "SWD x1e3"
	palette := []color.Color{
		color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
		color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	}
	for i, dir := range dirs {
		f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			return err
		}
		var pts plotter.XYs
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var r struct {
				Step int      `json:"step"`
				SWD  *float64 `json:"swd"`
			}
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.SWD != nil {
				pts = append(pts, plotter.XY{X: float64(r.Step*batch) / 1000, Y: *r.SWD})
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		c := palette[i%len(palette)]
		l.Color, s.Color = c, c
		if i >= len(palette) {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l, s)
		p.Legend.Add(filepath.Base(dir), l, s)
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Y.Min = 0
	return p.Save(8*vg.Inch, 4.5*vg.Inch, out)
}
