package server

import (
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// fakeModel is a cheap deterministic Model: a mirrored 6x6 block pattern coloured
// from z (an identicon), so distinct latents give visibly distinct images and
// the server's overhead can be measured without the real generator.
type fakeModel struct {
	zdim, size int
	delay      time.Duration // per Generate call, to emulate a generator
	fail       error         // returned by Generate when set
	short      bool          // return one image too few

	// block, when set, makes Generate announce itself on started and wait for a
	// value on block: tests use it to hold the generator busy.
	block   chan struct{}
	started chan struct{}

	mu      sync.Mutex
	batches []int
}

func newFake() *fakeModel { return &fakeModel{zdim: 16, size: 48} }

func (f *fakeModel) ZDim() int { return f.zdim }
func (f *fakeModel) Size() int { return f.size }

func (f *fakeModel) Latent(seed uint64, z []float32) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for i := range z {
		z[i] = float32(r.NormFloat64())
	}
}

func (f *fakeModel) Generate(z []float32) ([]*image.RGBA, error) {
	n := len(z) / f.zdim
	f.mu.Lock()
	f.batches = append(f.batches, n)
	f.mu.Unlock()
	if f.block != nil {
		f.started <- struct{}{}
		<-f.block
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.fail != nil {
		return nil, f.fail
	}
	if len(z)%f.zdim != 0 {
		return nil, errors.New("ragged z")
	}
	out := make([]*image.RGBA, 0, n)
	for i := range n {
		out = append(out, f.render(z[i*f.zdim:(i+1)*f.zdim]))
	}
	if f.short {
		out = out[:n-1]
	}
	return out, nil
}

func (f *fakeModel) render(z []float32) *image.RGBA {
	const cells = 6
	img := image.NewRGBA(image.Rect(0, 0, f.size, f.size))
	c8 := func(v float32) uint8 { return uint8(127.5 + 127.5*math.Tanh(float64(v))) }
	fg := color.RGBA{c8(z[0]), c8(z[1]), c8(z[2]), 255}
	bg := color.RGBA{c8(z[3]) / 4, c8(z[4]) / 4, c8(z[5]) / 4, 255}
	for y := range f.size {
		for x := range f.size {
			cx, cy := x*cells/f.size, y*cells/f.size
			cx = min(cx, cells-1-cx) // mirror left-right
			on := z[(cy*3+cx)%len(z)] > 0
			if on {
				img.SetRGBA(x, y, fg)
			} else {
				img.SetRGBA(x, y, bg)
			}
		}
	}
	return img
}

func (f *fakeModel) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}
