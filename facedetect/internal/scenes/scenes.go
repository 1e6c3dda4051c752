// Package scenes composes synthetic illustrations for the detector's tests:
// face images scaled, rotated slightly and pasted onto varied backgrounds
// (gradients, noise, shapes, stripes). A scene is a pure function of its
// seed and inputs, with its own random generator, so a test can rebuild
// exactly the scenes a generator once wrote for OpenCV.
package scenes

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // face images
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/image/draw"
	"golang.org/x/image/math/f64"
)

// rng is splitmix64: small, and fixed forever, unlike the standard
// library's helpers whose algorithms may change between Go versions.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a uniform integer in [lo, hi].
func (r *rng) intn(lo, hi int) int { return lo + int(r.next()%uint64(hi-lo+1)) }

func (r *rng) colour() color.RGBA {
	return color.RGBA{uint8(r.next()), uint8(r.next()), uint8(r.next()), 255}
}

// Default are the test scenes' settings: 300-600 px illustrations with one
// to four faces of 60-220 px, rotated up to 8 degrees.
var Default = Params{MinSide: 300, MaxSide: 600, MinFace: 60, MaxFace: 220, MaxFaces: 4, MaxAngle: 8}

// Params bound a scene's size and the faces in it.
type Params struct {
	MinSide, MaxSide int     // canvas sides, each drawn from [MinSide, MaxSide]
	MinFace, MaxFace int     // pasted face image side
	MaxFaces         int     // 1..MaxFaces faces per scene
	MaxAngle         float64 // rotation in degrees, drawn from [-MaxAngle, MaxAngle]
	NoNoise          bool    // draw shapes instead of per-pixel noise (noise makes PNGs large)
}

// Compose draws a scene for seed, picking faces from faces, and returns it
// with the boxes where the face images were pasted (before rotation).
func Compose(seed uint64, faces []image.Image, p Params) (*image.RGBA, []image.Rectangle) {
	r := &rng{seed}
	w, h := r.intn(p.MinSide, p.MaxSide), r.intn(p.MinSide, p.MaxSide)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	background(dst, r, p.NoNoise)
	n := r.intn(1, p.MaxFaces)
	var boxes []image.Rectangle
	for tries := 0; len(boxes) < n && tries < 50; tries++ {
		s := r.intn(p.MinFace, min(p.MaxFace, w, h))
		x, y := r.intn(0, w-s), r.intn(0, h-s)
		b := image.Rect(x, y, x+s, y+s)
		clear := true
		for _, o := range boxes {
			// Keep faces apart so each is detected on its own.
			if b.Inset(-s / 8).Overlaps(o) {
				clear = false
				break
			}
		}
		if !clear {
			continue
		}
		f := faces[r.intn(0, len(faces)-1)]
		angle := (2*r.float() - 1) * p.MaxAngle * math.Pi / 180
		paste(dst, f, b, angle)
		boxes = append(boxes, b)
	}
	return dst, boxes
}

// paste draws src scaled to box b and rotated by angle about b's centre.
func paste(dst *image.RGBA, src image.Image, b image.Rectangle, angle float64) {
	sb := src.Bounds()
	k := float64(b.Dx()) / float64(sb.Dx())
	cos, sin := math.Cos(angle)*k, math.Sin(angle)*k
	cx, cy := float64(b.Min.X+b.Max.X)/2, float64(b.Min.Y+b.Max.Y)/2
	sx, sy := float64(sb.Min.X+sb.Max.X)/2, float64(sb.Min.Y+sb.Max.Y)/2
	// dst = R*k*(src - sc) + c
	m := f64.Aff3{
		cos, -sin, cx - cos*sx + sin*sy,
		sin, cos, cy - sin*sx - cos*sy,
	}
	draw.CatmullRom.Transform(dst, m, src, sb, draw.Over, nil)
}

// background fills dst with one of several textures.
func background(dst *image.RGBA, r *rng, noNoise bool) {
	w, h := dst.Bounds().Dx(), dst.Bounds().Dy()
	a, b := r.colour(), r.colour()
	kind := r.intn(0, 4)
	if kind == 1 && noNoise {
		kind = 2
	}
	ang := r.float() * 2 * math.Pi
	dx, dy := math.Cos(ang), math.Sin(ang)
	amp := float64(r.intn(10, 60))
	period := float64(r.intn(8, 60))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			t := (float64(x)*dx + float64(y)*dy) / float64(w+h)
			t = t - math.Floor(t)
			var c [3]float64
			switch kind {
			case 0, 1, 2: // linear gradient, maybe noisy
				c = mix(a, b, t)
				if kind == 1 {
					n := (r.float() - 0.5) * amp
					c[0], c[1], c[2] = c[0]+n, c[1]+n, c[2]+n
				}
			case 3: // radial gradient
				rx, ry := float64(x)/float64(w)-0.5, float64(y)/float64(h)-0.5
				c = mix(a, b, math.Min(1, 2*math.Hypot(rx, ry)))
			case 4: // stripes
				if math.Mod(float64(x)*dx+float64(y)*dy+1e6, period) < period/2 {
					c = mix(a, a, 0)
				} else {
					c = mix(b, b, 0)
				}
			}
			i := dst.PixOffset(x, y)
			dst.Pix[i+0] = clamp8(c[0])
			dst.Pix[i+1] = clamp8(c[1])
			dst.Pix[i+2] = clamp8(c[2])
			dst.Pix[i+3] = 255
		}
	}
	if kind == 2 {
		shapes(dst, r)
	}
}

// shapes scatters filled rectangles and discs.
func shapes(dst *image.RGBA, r *rng) {
	w, h := dst.Bounds().Dx(), dst.Bounds().Dy()
	for n := r.intn(3, 12); n > 0; n-- {
		c := r.colour()
		x0, y0 := r.intn(0, w-1), r.intn(0, h-1)
		s := r.intn(10, max(11, min(w, h)/3))
		disc := r.intn(0, 1) == 1
		for y := max(0, y0-s); y < min(h, y0+s); y++ {
			for x := max(0, x0-s); x < min(w, x0+s); x++ {
				if disc && (x-x0)*(x-x0)+(y-y0)*(y-y0) > s*s {
					continue
				}
				dst.SetRGBA(x, y, c)
			}
		}
	}
}

func mix(a, b color.RGBA, t float64) [3]float64 {
	return [3]float64{
		float64(a.R)*(1-t) + float64(b.R)*t,
		float64(a.G)*(1-t) + float64(b.G)*t,
		float64(a.B)*(1-t) + float64(b.B)*t,
	}
}

func clamp8(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, math.Round(v))))
}

// LoadFaces decodes up to limit PNG or JPEG images from dir, in name order.
func LoadFaces(dir string, limit int) ([]image.Image, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".png", ".jpg", ".jpeg":
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) > limit {
		names = names[:limit]
	}
	var imgs []image.Image
	for _, nm := range names {
		f, err := os.Open(filepath.Join(dir, nm))
		if err != nil {
			return nil, err
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nm, err)
		}
		imgs = append(imgs, img)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%s: no face images", dir)
	}
	return imgs, nil
}
