package facedetect

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"unsafe"
)

// TestStageKernelMatchesGo runs every stage of the cascade through the
// SIMD kernels and through stageGo on the rows of real integral images
// (committed scenes, several pyramid levels, both window steps), from
// random alive masks, and wants the same bits. Where the CPU has no kernel
// there is nothing to compare and the test says so.
func TestStageKernelMatchesGo(t *testing.T) {
	if stageKernel(1) == nil || stageKernel(2) == nil {
		t.Skip("no SIMD stage kernel on this CPU or build: the Go stages are the only ones")
	}
	c := AnimeFace()
	names, _ := filepath.Glob("testdata/scenes/scene-*")
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(1, 2))
	var simd, ref scanner
	ref.noSIMD = true
	checked, alive := 0, 0
	for _, name := range names[:5] {
		g := EqualizeHist(Gray(decodeFile(t, name)))
		w, h := g.Rect.Dx(), g.Rect.Dy()
		for _, l := range c.levels(w, h, DefaultOptions())[:6] {
			img := make([]uint8, l.w*l.h)
			simd.rz.resize(img, l.w, l.h, g.Pix, w, h, g.Stride)
			st := l.w + 1
			sum := make([]int32, st*(l.h+1))
			integral(sum, img, l.w, l.h)
			simd.setOffsets(c, st)
			ref.setOffsets(c, st)
			ww, wh := l.w+1-c.Width, l.h+1-c.Height
			for _, step := range []int{1, 2} {
				nx := (ww + step - 1) / step
				groups := (nx + 15) / 16
				for y := 0; y < wh; y += 19 {
					row := unsafe.Pointer(&sum[y*st])
					for si, sg := range c.stages {
						m := make([]uint16, groups)
						for i := range m {
							m[i] = uint16(rng.Uint32())
							if rng.IntN(4) == 0 {
								m[i] = 0xffff
							}
						}
						if r := nx % 16; r != 0 {
							m[groups-1] &= 1<<r - 1
						}
						want := slices.Clone(m)
						ev := ref.stumps[sg.first : sg.first+sg.ntrees]
						ref.stage(row, nx, step, ev, sg.threshold, want)
						simd.stage(row, nx, step, ev, sg.threshold, m)
						if !slices.Equal(m, want) {
							t.Fatalf("%s level %dx%d step %d row %d stage %d: SIMD %x, Go %x", name, l.w, l.h, step, y, si, m, want)
						}
						checked += groups
						for _, v := range want {
							for ; v != 0; v &= v - 1 {
								alive++
							}
						}
					}
				}
			}
		}
	}
	if alive == 0 || alive == checked*16 {
		t.Fatalf("degenerate test: %d of %d windows pass", alive, checked*16)
	}
	t.Logf("%d groups of 16 compared, %d windows passing", checked, alive)
}

// TestDetectSIMDMatchesGo wants the same faces from the SIMD and Go stages
// on every committed scene.
func TestDetectSIMDMatchesGo(t *testing.T) {
	if stageKernel(1) == nil || stageKernel(2) == nil {
		t.Skip("no SIMD stage kernel on this CPU: both runs would take the Go stages")
	}
	c := AnimeFace()
	names, _ := filepath.Glob("testdata/scenes/scene-*")
	if len(names) < 50 {
		t.Fatalf("%d scenes", len(names))
	}
	faces := 0
	for _, name := range names {
		g := EqualizeHist(Gray(decodeFile(t, name)))
		a := c.detectGray(g, DefaultOptions(), false)
		b := c.detectGray(g, DefaultOptions(), true)
		if !slices.Equal(a, b) {
			t.Errorf("%s: SIMD %v, Go %v", name, a, b)
		}
		faces += len(b)
	}
	if faces == 0 {
		t.Fatal("no faces found at all")
	}
}

// TestTreePathMatchesStumps runs nagadomi's cascade through the general tree
// path (eval, used for cascades with deeper trees) as well: a stump is a tree
// of one node, so the faces must be those of the stump path.
func TestTreePathMatchesStumps(t *testing.T) {
	c := AnimeFace()
	trees := *c
	trees.stumps = false
	names, _ := filepath.Glob("testdata/scenes/scene-*")
	sort.Strings(names)
	faces := 0
	for _, name := range names[:10] {
		g := EqualizeHist(Gray(decodeFile(t, name)))
		a := c.DetectGray(g, DefaultOptions())
		b := trees.DetectGray(g, DefaultOptions())
		if !slices.Equal(a, b) {
			t.Errorf("%s: stumps %v, trees %v", name, a, b)
		}
		faces += len(a)
	}
	if faces == 0 {
		t.Fatal("no faces found at all")
	}
}
