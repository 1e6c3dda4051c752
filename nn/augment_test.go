package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// checkElems fails unless |got[i]-want[i]| <= atol + rtol*|want[i]| for every i, and
// reports the worst element.
func checkElems(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: len %d, want %d", name, len(got), len(want))
		return
	}
	worst, bad := -1, 0
	var worstExcess float64
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		if excess := d - (atol + rtol*math.Abs(w)); !(excess <= 0) {
			bad++
			if worst < 0 || !(excess <= worstExcess) {
				worst, worstExcess = i, excess
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements off; worst [%d] = %.9g, want %.9g (atol %g, rtol %g)",
			name, bad, len(want), worst, got[worst], want[worst], atol, rtol)
	}
}

// augmentParamsFromGolden reads the per-sample parameters that the golden script drew
// and used.
func augmentParamsFromGolden(g map[string]goldenTensor, h, w int) AugmentParams {
	p := AugmentParams{H: h, W: w}
	for i := range g["brightness"].Data {
		p.Samples = append(p.Samples, AugmentSample{
			Brightness: float32(g["brightness"].Data[i]),
			Saturation: float32(g["saturation"].Data[i]),
			Contrast:   float32(g["contrast"].Data[i]),
			TransH:     int(g["trans_h"].Data[i]),
			TransW:     int(g["trans_w"].Data[i]),
			CutH:       int(g["cut_h"].Data[i]),
			CutW:       int(g["cut_w"].Data[i]),
		})
	}
	return p
}

// TestDiffAugmentGolden checks Forward and Backward against PyTorch float64 values of
// the official DiffAugment code (scripts/golden_diffaugment.py), given the same
// parameters, for the full policy and each transform alone, on an even, an odd and a
// non-square image size. Two samples of each file take the extreme shifts and cutout
// offsets. The colour transforms' float32 arithmetic is off by up to 1.6e-7*(1+|want|)
// here (translation and cutout only move values: 2.5e-12, the files' 12 digits); the
// tolerance leaves room for a few ulps more, as FMA fusion under GOAMD64=v3 may give.
func TestDiffAugmentGolden(t *testing.T) {
	const atol, rtol = 1e-6, 1e-6
	for _, f := range []string{"diffaugment_8x8.json", "diffaugment_7x7.json", "diffaugment_9x12.json"} {
		g := loadGolden(t, f)
		xs := g["x"].Shape
		n, c, h, w := xs[0], xs[1], xs[2], xs[3]
		for _, s := range []string{"color,translation,cutout", "color", "translation", "cutout"} {
			t.Run(f+"/"+s, func(t *testing.T) {
				pol, err := ParseAugmentPolicy(s)
				if err != nil {
					t.Fatal(err)
				}
				a := &DiffAugment{Policy: pol, Params: augmentParamsFromGolden(g, h, w)}
				y := a.Forward(toCNHW(g["x"]), c, n, h, w)
				checkElems(t, "y", toNCHW(y, n, c, h*w), g["y/"+s].Data, atol, rtol)
				dx := a.Backward(toCNHW(g["gy"]))
				checkElems(t, "grad_x", toNCHW(dx, n, c, h*w), g["grad_x/"+s].Data, atol, rtol)
			})
		}
	}
}

// TestDiffAugmentFiniteDifferences checks Backward against central differences of
// L = sum(y*gy) on shapes and parameters the golden files do not cover (4 channels,
// h != w, parameters from Draw). For fixed parameters every transform is affine in x,
// so a central difference has no truncation error at any step: a large step (0.5)
// leaves only float32 rounding of y, a few 1e-7 per element, which over the ~240
// elements one input moves and divided by the step 2*0.5 gives a few 1e-6 against
// gradients of order 1 (measured: 6e-7 of the scale). The tolerance, 2e-5 of the
// scale, is far below what a wrong formula gives (a contrast adjoint without its mean
// term is off by 3e-3 to 1e-2 of the scale, a mistranslated gradient by more than 1).
func TestDiffAugmentFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const c, n, h, w = 4, 3, 6, 10
	for _, s := range []string{"color", "color,translation,cutout"} {
		t.Run(s, func(t *testing.T) {
			pol, _ := ParseAugmentPolicy(s)
			a := &DiffAugment{Policy: pol}
			a.Draw(r, n, h, w)
			x, gy := randSlice(r, c*n*h*w), randSlice(r, c*n*h*w)
			loss := func() float64 { return dot(a.Forward(x, c, n, h, w), gy) }
			loss()
			dx := append([]float32(nil), a.Backward(gy)...)
			var scale, maxErr float64
			for i := range x {
				old := x[i]
				hi, lo := old+0.5, old-0.5
				x[i] = hi
				lp := loss()
				x[i] = lo
				lm := loss()
				x[i] = old
				want := (lp - lm) / (float64(hi) - float64(lo))
				scale = math.Max(scale, math.Abs(want))
				maxErr = math.Max(maxErr, math.Abs(want-float64(dx[i])))
			}
			if !(maxErr <= 2e-5*scale) {
				t.Errorf("finite-difference max error %.3g, scale %.3g", maxErr, scale)
			}
		})
	}
}

// TestDiffAugmentNone checks that an empty policy passes values and gradients through.
func TestDiffAugmentNone(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	a := &DiffAugment{}
	a.Draw(r, 2, 5, 4)
	x, gy := randSlice(r, 3*2*5*4), randSlice(r, 3*2*5*4)
	y := a.Forward(x, 3, 2, 5, 4)
	dx := a.Backward(gy)
	for i := range x {
		if y[i] != x[i] || dx[i] != gy[i] {
			t.Fatalf("[%d]: y %v for x %v, dx %v for dy %v", i, y[i], x[i], dx[i], gy[i])
		}
	}
}

func TestAugmentRanges(t *testing.T) {
	// Values of DiffAugment_pytorch.py's int(size*ratio + 0.5) and its offset bounds.
	for _, tc := range []struct{ h, w, shiftH, shiftW, cutH, cutW, offH, offW int }{
		{48, 48, 6, 6, 24, 24, 49, 49},
		{8, 8, 1, 1, 4, 4, 9, 9},
		{7, 7, 1, 1, 4, 4, 8, 8},
		{9, 12, 1, 2, 5, 6, 9, 13},
		{3, 4, 0, 1, 2, 2, 4, 5},
		{1, 1, 0, 0, 1, 1, 1, 1},
	} {
		sh, sw, ch, cw, oh, ow := AugmentRanges(tc.h, tc.w)
		if got := [6]int{sh, sw, ch, cw, oh, ow}; got != [6]int{tc.shiftH, tc.shiftW, tc.cutH, tc.cutW, tc.offH, tc.offW} {
			t.Errorf("AugmentRanges(%d, %d) = %v, want %v", tc.h, tc.w, got, tc)
		}
	}
}

// TestDiffAugmentDraw checks that Draw is a pure function of the generator's state,
// that it follows its documented order (whatever the policy), and that over many
// samples every parameter stays in its range and reaches both ends of it.
func TestDiffAugmentDraw(t *testing.T) {
	const n, h, w = 4000, 9, 12
	var a, b DiffAugment
	b.Policy = AugmentPolicy{Color: true, Translation: true, Cutout: true}
	a.Draw(rand.New(rand.NewPCG(1, 2)), n, h, w)
	b.Draw(rand.New(rand.NewPCG(1, 2)), n, h, w)
	if a.Params.H != h || a.Params.W != w || len(a.Params.Samples) != n {
		t.Fatalf("params for %d images of %dx%d", len(a.Params.Samples), a.Params.H, a.Params.W)
	}
	shiftH, shiftW, _, _, offH, offW := AugmentRanges(h, w)
	ref := rand.New(rand.NewPCG(1, 2))
	for i, s := range a.Params.Samples {
		if s != b.Params.Samples[i] {
			t.Fatalf("sample %d differs between two draws from one seed: %+v, %+v", i, s, b.Params.Samples[i])
		}
		want := AugmentSample{Brightness: ref.Float32(), Saturation: ref.Float32(), Contrast: ref.Float32()}
		want.TransH = ref.IntN(2*shiftH+1) - shiftH
		want.TransW = ref.IntN(2*shiftW+1) - shiftW
		want.CutH, want.CutW = ref.IntN(offH), ref.IntN(offW)
		if s != want {
			t.Fatalf("sample %d = %+v, the documented order gives %+v", i, s, want)
		}
	}

	lo := AugmentSample{Brightness: 1, Saturation: 1, Contrast: 1, TransH: 99, TransW: 99, CutH: 99, CutW: 99}
	hi := AugmentSample{Brightness: -1, Saturation: -1, Contrast: -1, TransH: -99, TransW: -99, CutH: -99, CutW: -99}
	for _, s := range a.Params.Samples {
		lo = AugmentSample{min(lo.Brightness, s.Brightness), min(lo.Saturation, s.Saturation), min(lo.Contrast, s.Contrast),
			min(lo.TransH, s.TransH), min(lo.TransW, s.TransW), min(lo.CutH, s.CutH), min(lo.CutW, s.CutW)}
		hi = AugmentSample{max(hi.Brightness, s.Brightness), max(hi.Saturation, s.Saturation), max(hi.Contrast, s.Contrast),
			max(hi.TransH, s.TransH), max(hi.TransW, s.TransW), max(hi.CutH, s.CutH), max(hi.CutW, s.CutW)}
	}
	// Integers: exactly the documented inclusive ranges. Floats: inside [0, 1) and,
	// with 4000 draws, within 1e-2 of both ends (each misses with probability ~e^-40).
	if lo.TransH != -shiftH || hi.TransH != shiftH || lo.TransW != -shiftW || hi.TransW != shiftW ||
		lo.CutH != 0 || hi.CutH != offH-1 || lo.CutW != 0 || hi.CutW != offW-1 {
		t.Errorf("integer parameters span [%+v, %+v], want shifts ±%d, ±%d and offsets [0, %d), [0, %d)",
			lo, hi, shiftH, shiftW, offH, offW)
	}
	for _, f := range [][2]float32{{lo.Brightness, hi.Brightness}, {lo.Saturation, hi.Saturation}, {lo.Contrast, hi.Contrast}} {
		if !(f[0] >= 0 && f[0] < 1e-2 && f[1] < 1 && f[1] > 1-1e-2) {
			t.Errorf("uniform parameter spans [%v, %v], want inside and near both ends of [0, 1)", f[0], f[1])
		}
	}
}

func TestParseAugmentPolicy(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", ""},
		{"color", "color"},
		{"translation", "translation"},
		{"cutout", "cutout"},
		{"color,translation", "color,translation"},
		{"color,cutout", "color,cutout"},
		{"translation,cutout", "translation,cutout"},
		{"color,translation,cutout", "color,translation,cutout"},
		{" color , cutout", "color,cutout"},
	} {
		p, err := ParseAugmentPolicy(tc.in)
		if err != nil {
			t.Errorf("ParseAugmentPolicy(%q): %v", tc.in, err)
			continue
		}
		if p.String() != tc.want {
			t.Errorf("ParseAugmentPolicy(%q).String() = %q, want %q", tc.in, p.String(), tc.want)
		}
		if p.Any() != (tc.want != "") {
			t.Errorf("ParseAugmentPolicy(%q).Any() = %v", tc.in, p.Any())
		}
	}
	for _, in := range []string{"colour", "Color", "none", "color,,cutout", ",", "color,", "cutout,color",
		"translation,color", "color,color", "color,translation,cutout,noise"} {
		if p, err := ParseAugmentPolicy(in); err == nil {
			t.Errorf("ParseAugmentPolicy(%q) = %+v, want an error", in, p)
		}
	}
}

// TestDiffAugmentParamsChecked checks that Forward refuses parameters for another
// shape or out of their range rather than indexing outside an image.
func TestDiffAugmentParamsChecked(t *testing.T) {
	x := make([]float32, 3*2*8*8)
	for name, edit := range map[string]func(*AugmentParams){
		"batch size": func(p *AugmentParams) { p.Samples = p.Samples[:1] },
		"size":       func(p *AugmentParams) { p.W = 9 },
		"shift":      func(p *AugmentParams) { p.Samples[1].TransW = 2 },
		"offset":     func(p *AugmentParams) { p.Samples[0].CutH = 9 },
		"uniform":    func(p *AugmentParams) { p.Samples[0].Contrast = 1 },
	} {
		t.Run(name, func(t *testing.T) {
			a := &DiffAugment{Policy: AugmentPolicy{Color: true, Translation: true, Cutout: true}}
			a.Draw(rand.New(rand.NewPCG(1, 1)), 2, 8, 8)
			edit(&a.Params)
			defer func() {
				if recover() == nil {
					t.Errorf("Forward accepted bad params %+v", a.Params)
				}
			}()
			a.Forward(x, 3, 2, 8, 8)
		})
	}
}

// BenchmarkDiffAugment times the full policy, forward and backward, on one
// discriminator batch of the reference recipe (64 x 3 x 48 x 48).
func BenchmarkDiffAugment(b *testing.B) {
	const c, n, h, w = 3, 64, 48, 48
	r := rand.New(rand.NewPCG(1, 2))
	a := &DiffAugment{Policy: AugmentPolicy{Color: true, Translation: true, Cutout: true}}
	x, gy := randSlice(r, c*n*h*w), randSlice(r, c*n*h*w)
	for _, pass := range []string{"forward", "backward"} {
		b.Run(fmt.Sprint(pass), func(b *testing.B) {
			a.Draw(r, n, h, w)
			a.Forward(x, c, n, h, w)
			for b.Loop() {
				if pass == "forward" {
					a.Forward(x, c, n, h, w)
				} else {
					a.Backward(gy)
				}
			}
		})
	}
}
