// Package facedetect finds anime faces in illustrations with an LBP cascade,
// in pure Go.
//
// It evaluates cascades in OpenCV's XML format (opencv_traincascade with
// -featureType LBP: boosted stages of weak classifiers over multi-block LBP
// features, each a 256-entry lookup table) the way OpenCV 4.x's
// CascadeClassifier::detectMultiScale does on a CPU: the same image pyramid
// (sizes rounded as OpenCV rounds them, resized with OpenCV 4's bit-exact
// bilinear filter, INTER_LINEAR_EXACT), the same window scan (2-pixel steps below scale 2,
// 1-pixel above, and the skip after a window fails the first stage), the
// same float arithmetic in the stage sums, and the same groupRectangles.
// Detect adds the preprocessing the cascade's author prescribes
// (greyscale, equalizeHist), and DefaultOptions his settings (scale factor
// 1.1, 5 neighbours, 24x24 minimum). The parity test checks the result
// against OpenCV on the committed test scenes.
//
// AnimeFace returns nagadomi's lbpcascade_animeface, embedded in the
// package; ParseCascade reads any other LBP cascade.
package facedetect

import (
	"image"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Options are detectMultiScale's parameters.
type Options struct {
	ScaleFactor  float64 // pyramid step, > 1 (OpenCV's scaleFactor)
	MinNeighbors int     // a face needs more than this many raw hits (minNeighbors)
	MinSize      int     // smallest face side in pixels (minSize); 0: the cascade's window
	MaxSize      int     // largest face side in pixels (maxSize); 0: no limit
	// Workers is how many goroutines scan the pyramid; 0 means
	// runtime.GOMAXPROCS(0). Use 1 when detecting in many images at once.
	Workers int
}

// DefaultOptions are lbpcascade_animeface's recommended settings.
func DefaultOptions() Options {
	return Options{ScaleFactor: 1.1, MinNeighbors: 5, MinSize: 24}
}

// Face is one detection: a box in the image's coordinates and the number
// of raw window hits merged into it (OpenCV's numDetections), a rough
// confidence.
type Face struct {
	Rect      image.Rectangle
	Neighbors int
}

// Detect finds faces in img as OpenCV does with the cascade author's recipe:
// Gray, EqualizeHist, then DetectGray. Boxes are in img's coordinates.
func (c *Cascade) Detect(img image.Image, opt Options) []Face {
	faces := c.DetectGray(EqualizeHist(Gray(img)), opt)
	o := img.Bounds().Min
	for i := range faces {
		faces[i].Rect = faces[i].Rect.Add(o)
	}
	return faces
}

// scaleLevel is one pyramid level.
type scaleLevel struct {
	factor float32 // OpenCV keeps the scale as a float
	w, h   int     // resized image size
	step   int     // window stride in pixels
	yEnd   int     // window rows scanned: y < yEnd
}

// levels lists the pyramid like detectMultiScaleNoGrouping: factors
// 1, s, s^2... in float64, a level kept while the rounded window fits the
// image and maxSize, and skipped below minSize.
func (c *Cascade) levels(w, h int, opt Options) []scaleLevel {
	maxW, maxH := w, h
	if opt.MaxSize > 0 {
		maxW, maxH = opt.MaxSize, opt.MaxSize
	}
	minW, minH := opt.MinSize, opt.MinSize
	var ls []scaleLevel
	for f := 1.0; ; f *= opt.ScaleFactor {
		ww := int(math.RoundToEven(float64(c.Width) * f))
		wh := int(math.RoundToEven(float64(c.Height) * f))
		if ww > maxW || wh > maxH || ww > w || wh > h {
			break
		}
		if ww < minW || wh < minH {
			continue
		}
		sc := float32(f)
		l := scaleLevel{
			factor: sc,
			w:      int(math.RoundToEven(float64(float32(w) / sc))),
			h:      int(math.RoundToEven(float64(float32(h) / sc))),
			step:   2,
		}
		if sc >= 2 {
			l.step = 1
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil
	}
	// OpenCV splits each level's rows into as many stripes as level 0 has
	// 32-pixel columns, each a whole number of steps long, and scans
	// y < stripes*stripeSize: with a 2-pixel step and an odd number of
	// window rows this can leave out the last row, so we leave it out too.
	nstripes := max(1, (ls[0].w+1-c.Width+31)/32)
	for i := range ls {
		l := &ls[i]
		wh := l.h + 1 - c.Height
		stripe := max((wh/l.step+nstripes-1)/nstripes, 1) * l.step
		l.yEnd = min(nstripes*stripe, wh)
	}
	return ls
}

// DetectGray runs the multi-scale detection on a greyscale image as is (no
// equalisation) and groups the hits. Boxes are relative to g's origin. It
// panics if opt.ScaleFactor is not above 1, as OpenCV asserts.
func (c *Cascade) DetectGray(g *image.Gray, opt Options) []Face {
	return c.detectGray(g, opt, false)
}

// detectGray is DetectGray; noSIMD makes the tests run the Go stages.
func (c *Cascade) detectGray(g *image.Gray, opt Options, noSIMD bool) []Face {
	if !(opt.ScaleFactor > 1) {
		panic("facedetect: ScaleFactor must be > 1")
	}
	r := g.Bounds()
	w, h := r.Dx(), r.Dy()
	ls := c.levels(w, h, opt)
	if len(ls) == 0 {
		return nil
	}
	src := g.Pix[g.PixOffset(r.Min.X, r.Min.Y):]
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(ls))

	// Levels go to workers largest first (level 0 is the largest), so the
	// long ones start early and the small ones fill the gaps.
	var next atomic.Int64
	hits := make([][]cand, workers)
	var wg sync.WaitGroup
	for wi := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := scanner{noSIMD: noSIMD}
			for {
				li := int(next.Add(1) - 1)
				if li >= len(ls) {
					return
				}
				hits[wi] = s.scan(c, hits[wi], li, ls[li], src, w, h, g.Stride)
			}
		}()
	}
	wg.Wait()
	var all []cand
	for _, hs := range hits {
		all = append(all, hs...)
	}
	// A canonical order makes the output deterministic (OpenCV's depends
	// on thread timing); the groups themselves do not depend on it.
	slices.SortFunc(all, func(a, b cand) int {
		if a.level != b.level {
			return a.level - b.level
		}
		if a.r.Min.Y != b.r.Min.Y {
			return a.r.Min.Y - b.r.Min.Y
		}
		return a.r.Min.X - b.r.Min.X
	})
	rects := make([]image.Rectangle, len(all))
	for i, a := range all {
		rects[i] = a.r
	}
	faces := groupRectangles(rects, opt.MinNeighbors, 0.2)
	// clipObjects: intersect with the image, drop empty boxes.
	out := faces[:0]
	for _, f := range faces {
		f.Rect = f.Rect.Intersect(image.Rect(0, 0, w, h))
		if !f.Rect.Empty() {
			out = append(out, f)
		}
	}
	return out
}

// cand is a raw window hit.
type cand struct {
	level int
	r     image.Rectangle
}

// scanner holds one worker's buffers.
type scanner struct {
	rz     resizer
	img    []uint8
	sum    []int32
	ofs    [][16]int32 // per feature: its 4x4 integral-image points, relative to the window
	stumps []stumpEval // per tree when every tree is a stump: the flattened hot path
	maxOfs int32       // largest offset in ofs
	pass   []uint16    // one row's first-stage and all-stage results, a bit per position
	noSIMD bool        // tests: force the Go stages
	ofsSt  int         // the stride ofs was computed for
}

// stageFunc evaluates a stage of nev stumps (ev[0:nev], threshold thr) for
// groups of 16 windows step integral entries apart from base: bit i of
// mask[g] marks window 16*g+i alive, groups with none are skipped, and the
// bits of windows that fail are cleared. The SIMD kernels (stage_amd64.s)
// read stumpEval as 26 words: keep its layout.
type stageFunc func(base unsafe.Pointer, groups int, ev *stumpEval, nev int, thr float32, mask *uint16)

// stumpEval is one single-node tree with its feature's offsets inlined, so
// the scan of a window walks one contiguous array.
type stumpEval struct {
	ofs         [16]int32
	subset      [lbpCategories / 32]uint32
	left, right float32
}

// scan resizes the image to level l, builds its integral image and runs the
// cascade on every window position, appending hits to out.
func (s *scanner) scan(c *Cascade, out []cand, li int, l scaleLevel, src []uint8, w, h, stride int) []cand {
	n := l.w * l.h
	if cap(s.img) < n {
		s.img = make([]uint8, n)
	}
	img := s.img[:n]
	if l.w == w && l.h == h {
		for y := 0; y < h; y++ {
			copy(img[y*w:y*w+w], src[y*stride:])
		}
	} else {
		s.rz.resize(img, l.w, l.h, src, w, h, stride)
	}
	st := l.w + 1
	if cap(s.sum) < st*(l.h+1) {
		s.sum = make([]int32, st*(l.h+1))
	}
	sum := s.sum[:st*(l.h+1)]
	integral(sum, img, l.w, l.h)
	s.setOffsets(c, st)

	// Window origins: x, y in [0, size - window] (OpenCV's working size is
	// the integral's size minus the window).
	ww, wh := l.w+1-c.Width, l.h+1-c.Height
	winW := int(math.RoundToEven(float64(float32(c.Width) * l.factor)))
	winH := int(math.RoundToEven(float64(float32(c.Height) * l.factor)))
	if ww <= 0 || wh <= 0 {
		return out
	}
	// The unsafe loads in lbpAt rely on this: every feature of every
	// window lies inside sum (ParseCascade keeps features inside the
	// cascade window, and windows inside the image).
	if (wh-1)*st+ww-1+int(s.maxOfs) >= len(sum) {
		panic("facedetect: window outside the integral image")
	}
	hit := func(x, y int) {
		x0 := int(math.RoundToEven(float64(float32(x) * l.factor)))
		y0 := int(math.RoundToEven(float64(float32(y) * l.factor)))
		out = append(out, cand{li, image.Rect(x0, y0, x0+winW, y0+winH)})
	}
	if !c.stumps {
		for y := 0; y < min(wh, l.yEnd); y += l.step {
			for x := 0; x < ww; x += l.step {
				res := s.eval(c, unsafe.Pointer(&sum[y*st+x]))
				if res > 0 {
					hit(x, y)
				}
				if res == 0 {
					// Rejected by the first stage: OpenCV skips the next position.
					x += l.step
				}
			}
		}
		return out
	}
	// Cascades of stumps: each stage is evaluated for a whole row of
	// positions at once (16 per SIMD pass where the CPU has AVX-512),
	// skipping groups of 16 where every window has already failed; the row
	// is then walked as OpenCV walks it: a hit where every stage passed,
	// and the position after a first-stage reject skipped. Evaluating the
	// positions OpenCV skips costs some work but changes no result.
	nx := (ww + l.step - 1) / l.step
	groups := (nx + 15) / 16
	if cap(s.pass) < 2*groups {
		s.pass = make([]uint16, 2*groups)
	}
	first, alive := s.pass[:groups], s.pass[groups:2*groups]
	for y := 0; y < min(wh, l.yEnd); y += l.step {
		row := unsafe.Pointer(&sum[y*st])
		for g := range alive {
			alive[g] = 0xffff
		}
		if r := nx % 16; r != 0 {
			alive[groups-1] = 1<<r - 1
		}
		for si := range c.stages {
			sg := &c.stages[si]
			left := s.stage(row, nx, l.step, s.stumps[sg.first:sg.first+sg.ntrees], sg.threshold, alive)
			if si == 0 {
				copy(first, alive)
			}
			if !left {
				break
			}
		}
		for i := 0; i < nx; i++ {
			if first[i>>4]&(1<<(i&15)) == 0 {
				i++ // OpenCV skips the position after a first-stage reject
				continue
			}
			if alive[i>>4]&(1<<(i&15)) != 0 {
				hit(i*l.step, y)
			}
		}
	}
	return out
}

// stage evaluates the stage of stumps ev (threshold thr) for the windows
// of a row whose bits are set in alive (window i at base + 4*step*i bytes,
// bit i%16 of alive[i/16], i < n) and clears the bits of those that fail.
// It reports whether any window is left. Whole groups of 16 go to the SIMD
// kernel where there is one.
func (s *scanner) stage(base unsafe.Pointer, n, step int, ev []stumpEval, thr float32, alive []uint16) bool {
	done := 0
	if k := stageKernel(step); k != nil && !s.noSIMD && len(ev) > 0 {
		done = n / 16
		if done > 0 {
			k(base, done, &ev[0], len(ev), thr, unsafe.SliceData(alive))
		}
	}
	stageGo(base, done, step, ev, thr, alive)
	for _, m := range alive {
		if m != 0 {
			return true
		}
	}
	return false
}

// stageGo is stage in Go for the groups from from on: the same
// arithmetic, in the same order, as evalStumps.
func stageGo(base unsafe.Pointer, from, step int, ev []stumpEval, thr float32, alive []uint16) {
	for g := from; g < len(alive); g++ {
		m := alive[g]
		for j := 0; j < 16; j++ {
			if m&(1<<j) == 0 {
				continue
			}
			p := unsafe.Add(base, 4*step*(16*g+j))
			var acc float64
			for k := range ev {
				e := &ev[k]
				code := lbpAt(p, &e.ofs)
				if e.subset[code>>5]&(1<<(code&31)) != 0 {
					acc += float64(e.left)
				} else {
					acc += float64(e.right)
				}
			}
			if acc < float64(thr) {
				m &^= 1 << j
			}
		}
		alive[g] = m
	}
}

// setOffsets computes every feature's 16 integral-image offsets for stride
// st (LBPEvaluator::OptFeature::setOffsets).
func (s *scanner) setOffsets(c *Cascade, st int) {
	if s.ofsSt == st && len(s.ofs) == len(c.features) {
		return
	}
	s.ofs = slices.Grow(s.ofs[:0], len(c.features))[:len(c.features)]
	s.maxOfs = 0
	for i, f := range c.features {
		o := &s.ofs[i]
		for r := 0; r < 4; r++ {
			for q := 0; q < 4; q++ {
				o[r*4+q] = int32((f.y+r*f.h)*st + f.x + q*f.w)
				s.maxOfs = max(s.maxOfs, o[r*4+q])
			}
		}
	}
	s.stumps = s.stumps[:0]
	if c.stumps {
		for _, t := range c.trees {
			nd := &c.nodes[t.node]
			s.stumps = append(s.stumps, stumpEval{s.ofs[nd.feature], nd.subset, c.leaves[t.leaf], c.leaves[t.leaf+1]})
		}
	}
	s.ofsSt = st
}

// lbpAt is the 8-bit multi-block LBP code of feature o for the window whose
// top-left integral entry is at base: each of the 8 outer blocks contributes
// a 1 when its sum is >= the centre block's, clockwise from the top-left
// block as the most significant bit (LBPEvaluator::OptFeature::calc). It
// does no bounds checks: scan checks the extent of every window's features
// once per level.
func lbpAt(base unsafe.Pointer, o *[16]int32) int {
	v := func(i int) int32 { return *(*int32)(unsafe.Add(base, 4*o[i])) }
	p5, p6, p9, p10 := v(5), v(6), v(9), v(10)
	cv := p5 - p6 - p9 + p10
	p0, p1, p2, p3 := v(0), v(1), v(2), v(3)
	p4, p7, p8, p11 := v(4), v(7), v(8), v(11)
	p12, p13, p14, p15 := v(12), v(13), v(14), v(15)
	code := 0
	if p0-p1-p4+p5 >= cv {
		code |= 128
	}
	if p1-p2-p5+p6 >= cv {
		code |= 64
	}
	if p2-p3-p6+p7 >= cv {
		code |= 32
	}
	if p6-p7-p10+p11 >= cv {
		code |= 16
	}
	if p10-p11-p14+p15 >= cv {
		code |= 8
	}
	if p9-p10-p13+p14 >= cv {
		code |= 4
	}
	if p8-p9-p12+p13 >= cv {
		code |= 2
	}
	if p4-p5-p8+p9 >= cv {
		code |= 1
	}
	return code
}

// eval runs the cascade on the window whose top-left integral entry is at
// base (cascades of trees; stumps go through stage). It
// returns 1 when every stage passes, else -(index of the failing stage), so
// 0 means the first stage rejected it (CascadeClassifierImpl::runAt). Stage
// sums are float32 leaves added in float64 and compared with the float32
// threshold, as predictCategorical(Stump) does.
func (s *scanner) eval(c *Cascade, base unsafe.Pointer) int {
	for si := range c.stages {
		st := &c.stages[si]
		var acc float64
		for _, t := range c.trees[st.first : st.first+st.ntrees] {
			idx := int32(0)
			for {
				nd := &c.nodes[t.node+int(idx)]
				code := lbpAt(base, &s.ofs[nd.feature])
				if nd.subset[code>>5]&(1<<(code&31)) != 0 {
					idx = nd.left
				} else {
					idx = nd.right
				}
				if idx <= 0 {
					break
				}
			}
			acc += float64(c.leaves[t.leaf-int(idx)])
		}
		if acc < float64(st.threshold) {
			return -si
		}
	}
	return 1
}
