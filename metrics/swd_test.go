package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"avatargan/internal/gemm"
	"avatargan/internal/testutil"
)

// blobs draws n synthetic "faces": a random background plus a few soft colour blobs and a
// fine stripe texture (like hair strands), so that every pyramid level has structure and
// blurring visibly changes the statistics.
func blobs(r *rand.Rand, n, size int) [][]uint8 {
	out := make([][]uint8, n)
	for i := range out {
		img := make([]float64, size*size*3)
		bg := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
		for p := 0; p < size*size; p++ {
			copy(img[p*3:p*3+3], bg[:])
		}
		for b := 0; b < 5; b++ {
			cy, cx := r.Float64()*float64(size), r.Float64()*float64(size)
			rad := 3 + r.Float64()*float64(size)/4
			col := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					d2 := (float64(y)-cy)*(float64(y)-cy) + (float64(x)-cx)*(float64(x)-cx)
					a := math.Exp(-d2 / (2 * rad * rad))
					for c := 0; c < 3; c++ {
						p := (y*size+x)*3 + c
						img[p] = (1-a)*img[p] + a*col[c]
					}
				}
			}
		}
		fy, fx := 0.8+r.Float64()*0.8, 0.8+r.Float64()*0.8
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				v := 25 * math.Sin(fy*float64(y)+fx*float64(x))
				for c := 0; c < 3; c++ {
					img[(y*size+x)*3+c] += v
				}
			}
		}
		out[i] = make([]uint8, len(img))
		for p, v := range img {
			out[i][p] = uint8(math.Round(math.Max(0, math.Min(255, v))))
		}
	}
	return out
}

func noise(r *rand.Rand, n, size int) [][]uint8 {
	out := make([][]uint8, n)
	for i := range out {
		out[i] = make([]uint8, size*size*3)
		for p := range out[i] {
			out[i][p] = uint8(r.IntN(256))
		}
	}
	return out
}

// blur box-filters each image `passes` times (3x3, clamped borders).
func blur(imgs [][]uint8, size, passes int) [][]uint8 {
	out := make([][]uint8, len(imgs))
	for i, im := range imgs {
		cur := slices.Clone(im)
		for p := 0; p < passes; p++ {
			nxt := make([]uint8, len(cur))
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					for c := 0; c < 3; c++ {
						s, k := 0, 0
						for dy := -1; dy <= 1; dy++ {
							for dx := -1; dx <= 1; dx++ {
								yy, xx := y+dy, x+dx
								if yy >= 0 && yy < size && xx >= 0 && xx < size {
									s += int(cur[(yy*size+xx)*3+c])
									k++
								}
							}
						}
						nxt[(y*size+x)*3+c] = uint8((s + k/2) / k)
					}
				}
			}
			cur = nxt
		}
		out[i] = cur
	}
	return out
}

// smallOptions keeps tests fast while the GEMM is the naive placeholder.
func smallOptions() Options {
	o := DefaultOptions()
	o.PatchesPerImage, o.Directions, o.Repeats = 32, 32, 2
	return o
}

func TestSortFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 7, 1000, 100003} {
		a := make([]float32, n)
		for i := range a {
			switch r.IntN(4) {
			case 0:
				a[i] = float32(r.NormFloat64() * 1e-30)
			case 1:
				a[i] = float32(math.Copysign(0, r.NormFloat64()))
			default:
				a[i] = float32(r.NormFloat64() * 1e3)
			}
		}
		want := slices.Clone(a)
		slices.Sort(want)
		s1, s2 := make([]uint32, n), make([]uint32, n)
		sortFloat32(a, s1, s2)
		for i := range a {
			if a[i] != want[i] {
				t.Fatalf("n=%d: a[%d]=%v want %v", n, i, a[i], want[i])
			}
		}
	}
}

func TestW1Sorted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, nm := range [][2]int{{5, 5}, {3, 7}, {10, 4}, {1, 6}, {64, 48}} {
		a, b := make([]float32, nm[0]), make([]float32, nm[1])
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64() + 0.3)
		}
		slices.Sort(a)
		slices.Sort(b)
		// Naive: replicate each sample of a m times and of b n times; then both have n*m
		// samples and W1 is the mean absolute difference of the sorted lists.
		var ra, rb []float64
		for _, v := range a {
			for k := 0; k < len(b); k++ {
				ra = append(ra, float64(v))
			}
		}
		for _, v := range b {
			for k := 0; k < len(a); k++ {
				rb = append(rb, float64(v))
			}
		}
		var want float64
		for i := range ra {
			want += math.Abs(ra[i] - rb[i])
		}
		want /= float64(len(ra))
		if got := w1Sorted(a, b); math.Abs(got-want) > 1e-9 {
			t.Errorf("%v: w1Sorted=%v want %v", nm, got, want)
		}
	}
}

// naiveSWD recomputes SWD the original's way, all in memory and float64: descriptors in
// (channel, row, column) order as get_descriptors_for_minibatch, finalize_descriptors'
// mean/std normalisation over axes (0, 2, 3), projections, sort, mean |a - b|, x1e3. It
// reuses the package's positions and directions (permuted to the original's component
// order), so it must agree with SWD up to float32 rounding.
func naiveSWD(real, fake [][]uint8, size int, o Options) []float64 {
	res := Resolutions(size, o.MinRes)
	p := o.PatchSize
	dim := p * p * 3
	var out []float64
	for lv := range res {
		s := res[lv]
		descs := func(imgs [][]uint8) [][]float64 {
			c, hs := canonical(imgs)
			var all [][]float64
			for i, im := range c {
				f := make([]float32, len(im))
				for k, v := range im {
					f[k] = float32(v)
				}
				level := LaplacianPyramid(f, size, 3, len(res))[lv]
				corners := make([]int32, o.PatchesPerImage)
				patchCorners(corners, hs[i], o.Seed, lv, s, p)
				for _, cn := range corners {
					y0, x0 := int(cn)/3/s, int(cn)/3%s
					d := make([]float64, dim)
					for ch := 0; ch < 3; ch++ {
						for y := 0; y < p; y++ {
							for x := 0; x < p; x++ {
								d[(ch*p+y)*p+x] = float64(level[((y0+y)*s+x0+x)*3+ch])
							}
						}
					}
					all = append(all, d)
				}
			}
			for ch := 0; ch < 3; ch++ { // two-pass mean and population std
				var m, v float64
				cnt := float64(len(all) * p * p)
				for _, d := range all {
					for k := ch * p * p; k < (ch+1)*p*p; k++ {
						m += d[k]
					}
				}
				m /= cnt
				for _, d := range all {
					for k := ch * p * p; k < (ch+1)*p*p; k++ {
						v += (d[k] - m) * (d[k] - m)
					}
				}
				sd := math.Sqrt(v / cnt)
				for _, d := range all {
					for k := ch * p * p; k < (ch+1)*p*p; k++ {
						d[k] = (d[k] - m) / sd
					}
				}
			}
			return all
		}
		a, b := descs(real), descs(fake)
		total := o.Directions * o.Repeats
		dirs := directions(o.Seed, lv, total, dim)
		var sum float64
		for d := 0; d < total; d++ {
			w := make([]float64, dim) // package order (y, x, ch) -> original (ch, y, x)
			for y := 0; y < p; y++ {
				for x := 0; x < p; x++ {
					for ch := 0; ch < 3; ch++ {
						w[(ch*p+y)*p+x] = float64(dirs[d*dim+(y*p+x)*3+ch])
					}
				}
			}
			proj := func(ds [][]float64) []float64 {
				out := make([]float64, len(ds))
				for i, v := range ds {
					for k := range v {
						out[i] += v[k] * w[k]
					}
				}
				slices.Sort(out)
				return out
			}
			pa, pb := proj(a), proj(b)
			var s float64
			for i := range pa {
				s += math.Abs(pa[i] - pb[i])
			}
			sum += s / float64(len(pa))
		}
		out = append(out, 1e3*sum/float64(total))
	}
	return out
}

func TestSWDAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	real, fake := blobs(r, 24, 48), blur(blobs(r, 24, 48), 48, 1)
	o := smallOptions()
	o.ProjectionBytes = 4 * 5 * 2 * 24 * 32 // blocks of 5 directions: several, uneven
	defer func(g int) { gatherRows = g }(gatherRows)
	gatherRows = 100 // several gather chunks, last one partial
	got, err := SWD(real, fake, 48, o)
	if err != nil {
		t.Fatal(err)
	}
	want := naiveSWD(real, fake, 48, o)
	for i := range want {
		if math.Abs(got.PerLevel[i]-want[i]) > 1e-4*want[i]+1e-6 {
			t.Errorf("level %d: SWD %v, naive %v", got.Resolutions[i], got.PerLevel[i], want[i])
		}
	}
	if a := (want[0] + want[1]) / 2; math.Abs(got.Average-a) > 1e-4*a {
		t.Errorf("average %v, want %v", got.Average, a)
	}
	t.Logf("%v", got)
}

func TestNormalisation(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	imgs := blobs(r, 10, 48)
	c, hs := canonical(imgs)
	o := smallOptions()
	ls := newLevelSet(nil, c, hs, 48, 0, 2, o)
	buf := make([]float32, ls.count()*147)
	ls.gather(buf, 0, ls.count())
	for ch := 0; ch < 3; ch++ {
		var m, v float64
		n := 0
		for k := ch; k < len(buf); k += 3 {
			m += float64(buf[k])
			n++
		}
		m /= float64(n)
		for k := ch; k < len(buf); k += 3 {
			v += (float64(buf[k]) - m) * (float64(buf[k]) - m)
		}
		v /= float64(n)
		if math.Abs(m) > 1e-4 || math.Abs(v-1) > 1e-4 {
			t.Errorf("channel %d: normalised mean %g, variance %g", ch, m, v)
		}
	}
}

func TestSWDProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const n = 96
	real, real2 := blobs(r, n, 48), blobs(r, n, 48)
	o := smallOptions()
	same, err := SWD(real, real, 48, o)
	if err != nil {
		t.Fatal(err)
	}
	if same.Average != 0 {
		t.Errorf("identical sets: %v, want exactly 0 (same content, same patches)", same)
	}
	rr, _ := SWD(real, real2, 48, o)
	bl, _ := SWD(real, blur(real2, 48, 3), 48, o)
	nz, _ := SWD(real, noise(r, n, 48), 48, o)
	t.Logf("real/real  %v\nreal/blur  %v\nreal/noise %v", rr, bl, nz)
	if !(rr.Average < bl.Average && bl.Average < nz.Average) {
		t.Errorf("want real/real < real/blurred < real/noise, got %.3f %.3f %.3f", rr.Average, bl.Average, nz.Average)
	}
	if nz.Average < 2*rr.Average {
		t.Errorf("noise (%.3f) not clearly above the real/real level (%.3f)", nz.Average, rr.Average)
	}

	// Order independence and thread independence are exact, not statistical.
	sr, sf := slices.Clone(real), slices.Clone(real2)
	r.Shuffle(len(sr), func(i, j int) { sr[i], sr[j] = sr[j], sr[i] })
	slices.Reverse(sf)
	// The work splits by gemm.Threads (not GOMAXPROCS): 1 and 3 workers.
	for _, th := range []int{1, 3} {
		prev := gemm.SetThreads(th)
		sh, _ := SWD(sr, sf, 48, o)
		gemm.SetThreads(prev)
		if !slices.Equal(sh.PerLevel, rr.PerLevel) {
			t.Errorf("shuffled, %d threads: %v, want %v", th, sh, rr)
		}
	}
	// Another seed gives a different but close value.
	o2 := o
	o2.Seed = 99
	rs, _ := SWD(real, real2, 48, o2)
	if rs.Average == rr.Average || math.Abs(rs.Average-rr.Average) > 0.5*rr.Average {
		t.Errorf("seed 99: %v vs seed 1: %v", rs, rr)
	}

	// Sets of different sizes are allowed.
	if _, err := SWD(real, real2[:n/3], 48, o); err != nil {
		t.Error(err)
	}
}

func TestFloorAndFlat(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	imgs := blobs(r, 41, 48)
	o := smallOptions()
	f, err := Floor(imgs, 48, o)
	if err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(imgs)
	slices.Reverse(rev)
	f2, _ := Floor(rev, 48, o)
	if !slices.Equal(f.PerLevel, f2.PerLevel) || f.Average <= 0 {
		t.Errorf("Floor not order independent or zero: %v vs %v", f, f2)
	}
	flat := make([]uint8, 0, len(imgs)*48*48*3)
	for _, im := range imgs {
		flat = append(flat, im...)
	}
	v, err := Flat(flat, len(imgs), 48)
	if err != nil {
		t.Fatal(err)
	}
	f3, _ := Floor(v, 48, o)
	if !slices.Equal(f.PerLevel, f3.PerLevel) {
		t.Errorf("Flat view gives %v, want %v", f3, f)
	}
	if _, err := Flat(flat[1:], len(imgs), 48); err == nil {
		t.Error("Flat accepted a short buffer")
	}
}

func TestErrors(t *testing.T) {
	o := DefaultOptions()
	im := [][]uint8{make([]uint8, 48*48*3)}
	bad := []struct {
		name       string
		real, fake [][]uint8
		size       int
		o          Options
	}{
		{"empty", nil, im, 48, o},
		{"wrong size", im, [][]uint8{make([]uint8, 10)}, 48, o},
		{"too small", im, im, 8, o},
		{"even patch", im, im, 48, func() Options { p := o; p.PatchSize = 6; return p }()},
		{"no directions", im, im, 48, func() Options { p := o; p.Directions = 0; return p }()},
	}
	for _, b := range bad {
		if _, err := SWD(b.real, b.fake, b.size, b.o); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
}

func TestFacesRealVsReal(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	// ../shared/data/faces (96x96 JPEGs) or $AVATARGAN_FACES; required under CI.
	dir := testutil.FacesDir(t)
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(names) < 256 {
		testutil.SkipOrFail(t, "%s holds %d JPEGs, want at least 256", dir, len(names))
	}
	slices.Sort(names)
	imgs, err := loadFaces(names[:256], 48)
	if err != nil {
		t.Fatal(err)
	}
	o := smallOptions()
	fl, err := Floor(imgs, 48, o)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(17, 18))
	nz, _ := SWD(imgs[:128], noise(r, 128, 48), 48, o)
	bl, _ := SWD(imgs[:128], blur(imgs[128:], 48, 3), 48, o)
	t.Logf("faces real/real %v\nfaces real/blur %v\nfaces real/noise %v", fl, bl, nz)
	if !(fl.Average < bl.Average && bl.Average < nz.Average && 3*fl.Average < nz.Average) {
		t.Errorf("want floor << blurred < noise: %.3f %.3f %.3f", fl.Average, bl.Average, nz.Average)
	}
}

func TestNearestReal(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	real := blobs(r, 30, 16)
	fake := [][]uint8{slices.Clone(real[7]), noise(r, 1, 16)[0], slices.Clone(real[21])}
	fake[2][5] ^= 1 // a near copy
	m, err := NearestReal(fake, real, 16)
	if err != nil {
		t.Fatal(err)
	}
	if m[0].Real != 7 || m[0].RMS != 0 {
		t.Errorf("exact copy: %+v", m[0])
	}
	if m[2].Real != 21 || m[2].RMS <= 0 || m[2].RMS > 0.1 {
		t.Errorf("near copy: %+v", m[2])
	}
	// The noise image's match is the true minimum, checked by brute force.
	bestJ, bestD := -1, math.Inf(1)
	for j, im := range real {
		var s float64
		for k := range im {
			e := float64(im[k]) - float64(fake[1][k])
			s += e * e
		}
		if s < bestD {
			bestJ, bestD = j, s
		}
	}
	if m[1].Real != bestJ || math.Abs(m[1].RMS-math.Sqrt(bestD/(16*16*3))) > 1e-9 {
		t.Errorf("noise: %+v, want real %d rms %v", m[1], bestJ, math.Sqrt(bestD/(16*16*3)))
	}
}

// SWDContext and NearestRealContext stop soon after their context is cancelled, at any
// point of the computation (eval at n = 8192 runs for a minute; Ctrl-C must not wait),
// and results use snake_case JSON names.
func TestCancel(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	a, b := noise(r, 1024, 48), noise(r, 1024, 48)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SWDContext(done, a, b, 48, DefaultOptions()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before the start: %v", err)
	}
	if _, err := NearestRealContext(done, a[:4], b, 48); !errors.Is(err, context.Canceled) {
		t.Fatalf("NearestRealContext cancelled before the start: %v", err)
	}
	// Uncancelled, this takes ~8 s on 2 shared cores. Cancelled after 50 or 300 ms, it
	// must return after well under a second of work: measured in CPU time where the
	// system reports it (both threads count, hence 2 s), as wall time depends on what
	// else the machine runs (7 s was seen beside three training runs).
	for _, after := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		var cpu0 time.Duration
		var wall0 time.Time
		cancelled := make(chan struct{})
		timer := time.AfterFunc(after, func() {
			cpu0, _ = processCPU()
			wall0 = time.Now()
			cancel()
			close(cancelled)
		})
		_, err := SWDContext(ctx, a, b, 48, DefaultOptions())
		cpu1, haveCPU := processCPU()
		wall1 := time.Now()
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled after %v: error %v", after, err)
		}
		<-cancelled
		late, limit := wall1.Sub(wall0), 2*time.Second
		if haveCPU {
			late = cpu1 - cpu0
		}
		t.Logf("cancelled after %v: returned after %v more (%s)", after, late, map[bool]string{true: "CPU", false: "wall"}[haveCPU])
		if late > limit {
			t.Errorf("cancelled after %v: returned after %v more, want well under a second", after, late)
		}
	}
	js, _ := json.Marshal(Result{Resolutions: []int{16}, PerLevel: []float64{1}, Average: 1})
	if string(js) != `{"resolutions":[16],"per_level":[1],"average":1}` {
		t.Errorf("JSON %s", js)
	}
}
