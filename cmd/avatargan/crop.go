package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"avatargan/crop"
	"avatargan/facedetect"
)

const cropSynopsis = "--in DIR --out DIR [--size 96] [--all] [--min-face 64] [flags]"

func cmdCrop(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "crop", cropSynopsis)
	var opt crop.Options
	fs.StringVar(&opt.In, "in", "", "folder of illustrations (JPEG, PNG, GIF, WebP; scanned recursively; never written to)")
	fs.StringVar(&opt.Out, "out", "", "folder for the face crops and "+crop.ReportName+" (must not be inside --in)")
	fs.IntVar(&opt.Size, "size", crop.DefaultSize, "side of the square crops in pixels")
	fs.BoolVar(&opt.All, "all", false, "crop every face, not only the largest in each image")
	fs.IntVar(&opt.MinFace, "min-face", crop.DefaultMinFace, "ignore faces smaller than this (face box side in source pixels)")
	fs.Float64Var(&opt.Scale, "scale", crop.DefaultScale, "crop side / detected face box side (the default frames faces like the training set)")
	fs.Float64Var(&opt.Shift, "shift", crop.DefaultShift, "raise the crop centre above the face centre by this many face box sides")
	fs.StringVar(&opt.Edge, "edge", crop.EdgeShift, "when the crop reaches past the image: shift (move it inside) or pad (repeat the edge pixels)")
	fs.IntVar(&opt.DupDist, "dup-dist", crop.DefaultDupDist, "drop a crop within this many bits (of 256) of an earlier crop's hash; -1 keeps all")
	neighbors := fs.Int("min-neighbors", 5, "detections a face needs (more: fewer false faces, more missed ones)")
	cascade := fs.String("cascade", "", "another OpenCV LBP cascade XML (default: nagadomi's lbpcascade_animeface, embedded)")
	fs.IntVar(&opt.Workers, "workers", 0, "images processed at once (default: all cores)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if opt.In == "" || opt.Out == "" {
		fs.Usage()
		return errors.New("--in and --out are required")
	}
	if *neighbors < 0 || *neighbors > 1000 {
		return fmt.Errorf("--min-neighbors %d: want 0..1000", *neighbors)
	}
	if opt.MinFace < 1 {
		return fmt.Errorf("--min-face %d: want >= 1", opt.MinFace)
	}
	opt.Detect = facedetect.DefaultOptions()
	opt.Detect.MinNeighbors = *neighbors
	if *cascade != "" {
		c, err := facedetect.ReadCascade(*cascade)
		if err != nil {
			return fmt.Errorf("--cascade: %w", err)
		}
		opt.Cascade = c
		opt.Detect.MinSize = max(opt.Cascade.Width, opt.Cascade.Height)
	}
	if err := crop.CheckFolders(opt.In, opt.Out); err != nil {
		return err
	}
	if f, ok := o.err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(o.err),
			progressbar.OptionSetDescription("cropping"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish())
		opt.Progress = func(done, total int) { bar.ChangeMax(total); bar.Set(done) }
		defer bar.Finish()
	}
	start := time.Now()
	rep, err := crop.Run(ctx, opt)
	if rep != nil {
		printCropReport(o, rep, time.Since(start))
	}
	if errors.Is(err, context.Canceled) {
		// Wrapped, so that main still sees context.Canceled (exit status 130).
		return fmt.Errorf("%w; the crops and report written so far are complete files", err)
	}
	return err
}

// printCropReport writes the summary: results to out, skipped files to err.
func printCropReport(o stdio, r *crop.Report, took time.Duration) {
	fmt.Fprintf(o.out, "%d image files (%d other files ignored): %d decoded, %d skipped; %d without a face\n",
		r.Files, r.Other, r.Images, len(r.SkipList), r.NoFace)
	fmt.Fprintf(o.out, "%d faces: %d written, %d smaller than --min-face, %d not the largest (see --all), %d near-duplicates\n",
		r.Faces, r.Written, r.Small, r.NotLargest, r.Duplicates)
	fmt.Fprintf(o.out, "report: %s (%.1fs)\n", r.ReportPath, took.Seconds())
	if len(r.SkipList) > 0 {
		reasons := make([]string, 0, len(r.Skipped))
		for k := range r.Skipped {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		fmt.Fprintf(o.err, "skipped %d files:", len(r.SkipList))
		for _, k := range reasons {
			fmt.Fprintf(o.err, " %d %s;", r.Skipped[k], k)
		}
		fmt.Fprintln(o.err)
		const show = 10
		for _, s := range r.SkipList[:min(show, len(r.SkipList))] {
			fmt.Fprintf(o.err, "  %s\n", s)
		}
		if len(r.SkipList) > show {
			fmt.Fprintf(o.err, "  ... and %d more (all in the report)\n", len(r.SkipList)-show)
		}
	}
}
