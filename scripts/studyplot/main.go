// Command studyplot draws the quality curves of several training runs in one plot: the
// SWD (x1e3, n as the runs' --eval-n) that `avatargan train --eval-every` wrote to each
// run's metrics.jsonl, against the images seen by D. It makes docs/study/quality.png
// from the run directories of scripts/recipe_study.sh:
//
//	go run ./scripts/studyplot -out docs/study/quality.png runs/study/{original,g1,ttur,sngan,sngan-da,sngan-da-seed2}
//
// and docs/quality.png, the long run's branches (docs/training.md), with -title.
//
// With -chain the runs are one lineage, each started from the one before: an argument
// DIR:STEP keeps that run's points up to STEP (the checkpoint the next run started
// from), and each run's curve starts where the previous one's kept part ends, so the x
// axis counts the images of the whole lineage (docs/quality-embedded.png):
//
//	go run ./scripts/studyplot -chain -title "the embedded model's lineage: in-training SWD of the EMA generator (n = 1024, each run's own draw)" -out docs/quality-embedded.png runs/g96-l30 runs/g96lh-c1 runs/g96lq-c2 runs/g96lq-c3 runs/g96lq-c4l runs/g96lqf-c5
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"avatargan/internal/atomicfile"
)

func main() {
	out := flag.String("out", "quality.png", "output PNG")
	batch := flag.Int("batch", 64, "images per step")
	title := flag.String("title", "recipe study: SWD of the EMA generator (n = 1024), lower is better", "plot title")
	chain := flag.Bool("chain", false, "runs are one lineage (DIR[:STEP] arguments), plotted end to end")
	flag.Parse()
	if err := run(*out, *title, *batch, *chain, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "studyplot:", err)
		os.Exit(1)
	}
}

// splitStep parses DIR[:STEP]; STEP 0 means the whole run.
func splitStep(arg string) (dir string, until int, err error) {
	i := strings.LastIndexByte(arg, ':')
	if i < 0 {
		return arg, 0, nil
	}
	until, err = strconv.Atoi(arg[i+1:])
	if err != nil || until <= 0 {
		return "", 0, fmt.Errorf("%q: want DIR or DIR:STEP with STEP > 0", arg)
	}
	return arg[:i], until, nil
}

// curve is one run's SWD points: x in thousands of images seen by D (from the start of
// the lineage with -chain), y SWD x1e3.
type curve struct {
	name string
	pts  plotter.XYs
}

// readCurves reads each run's metrics.jsonl. With chain, each argument is DIR[:STEP], a
// run keeps its records up to STEP, and its x starts where the previous run's kept
// records end (its last step, with or without an SWD).
func readCurves(batch int, chain bool, args []string) ([]curve, error) {
	var cs []curve
	offset := 0.0 // thousands of images before this run, in a chain
	for _, arg := range args {
		dir, until := arg, 0
		if chain {
			var err error
			if dir, until, err = splitStep(arg); err != nil {
				return nil, err
			}
		}
		f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			return nil, err
		}
		var pts plotter.XYs
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		last, bad := 0, 0
		for sc.Scan() {
			var r struct {
				Step int      `json:"step"`
				SWD  *float64 `json:"swd"`
			}
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				bad++ // a line torn by a crash mid-append, as the trainer's reader allows
				continue
			}
			if until > 0 && r.Step > until {
				continue
			}
			last = max(last, r.Step)
			if r.SWD != nil {
				pts = append(pts, plotter.XY{X: offset + float64(r.Step*batch)/1000, Y: *r.SWD})
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
		if bad > 0 {
			fmt.Fprintf(os.Stderr, "studyplot: %s: skipped %d unreadable lines of metrics.jsonl\n", dir, bad)
		}
		if len(pts) == 0 {
			return nil, fmt.Errorf("%s: no SWD in metrics.jsonl (train without --eval-every?)", dir)
		}
		name := filepath.Base(dir)
		if chain {
			if until > last {
				return nil, fmt.Errorf("%s: STEP %d beyond its last step %d", dir, until, last)
			}
			offset += float64(last*batch) / 1000
			if until > 0 {
				name += " to step " + strconv.Itoa(until)
			}
		}
		cs = append(cs, curve{name, pts})
	}
	return cs, nil
}

func run(out, title string, batch int, chain bool, args []string) error {
	cs, err := readCurves(batch, chain, args)
	if err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "thousands of real images seen by D"
	p.Y.Label.Text = "SWD x1e3"
	palette := []color.Color{
		color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
		color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	}
	for i, c := range cs {
		l, s, err := plotter.NewLinePoints(c.pts)
		if err != nil {
			return err
		}
		col := palette[i%len(palette)]
		l.Color, s.Color = col, col
		if i >= len(palette) {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l, s)
		p.Legend.Add(c.name, l, s)
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Y.Min = 0
	// Rendered first, then written atomically: out is usually a committed figure, and
	// a failed or interrupted run must leave the old one whole.
	ext := strings.TrimPrefix(filepath.Ext(out), ".")
	wt, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, ext)
	if err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	return atomicfile.Write(out, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}
