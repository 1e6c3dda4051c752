package metrics

import "sync"

// The 1-D binomial kernel [1 4 6 4 1]/16. Its outer product is the 5x5 Gaussian that
// cv2.pyrDown/pyrUp and the original progressive_growing_of_gans code use; applying it
// separably gives the same result with 10 instead of 25 taps per pixel.
var binomial = [5]float32{1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16}

// reflect101 maps an out-of-range index into [0, n) the way OpenCV's BORDER_REFLECT_101
// and scipy.ndimage's mode="mirror" do (dcb|abcd|cba: the edge sample is not repeated).
func reflect101(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*n - 2 - i
		}
	}
	return i
}

// tap is one (source index, weight) term of a 1-D resampling filter.
type tap struct {
	src int
	w   float32
}

// tapCache memoises tap tables by (kind, n, m): SWD builds pyramids for thousands of
// same-sized images and the tables are the only per-call allocation worth avoiding.
var tapCache sync.Map

type tapKey struct{ up, n, m int }

func cachedTaps(up bool, n, m int) [][]tap {
	k := tapKey{0, n, m}
	if up {
		k.up = 1
	}
	if v, ok := tapCache.Load(k); ok {
		return v.([][]tap)
	}
	var t [][]tap
	if up {
		t = upTaps(n, m)
	} else {
		t = downTaps(n)
	}
	tapCache.Store(k, t)
	return t
}

// downTaps returns, for each of the ceil(n/2) outputs of a 1-D pyrDown, its 5 taps:
// blur with reflect-101 borders, then keep the even samples.
func downTaps(n int) [][]tap {
	out := make([][]tap, (n+1)/2)
	for o := range out {
		ts := make([]tap, 0, 5)
		for k := -2; k <= 2; k++ {
			ts = append(ts, tap{reflect101(2*o+k, n), binomial[k+2]})
		}
		out[o] = ts
	}
	return out
}

// upTaps returns, for each of the m outputs of a 1-D pyrUp from n samples, its taps.
// As in the original pyr_up, the source is zero-stuffed to length m (samples at even
// positions), blurred with 2x the kernel (4x in 2-D) under reflect-101 borders of the
// stuffed signal; zero samples are dropped from the tap list.
func upTaps(n, m int) [][]tap {
	out := make([][]tap, m)
	for o := range out {
		var ts []tap
		for k := -2; k <= 2; k++ {
			j := reflect101(o+k, m)
			if j%2 == 0 && j/2 < n {
				ts = append(ts, tap{j / 2, 2 * binomial[k+2]})
			}
		}
		out[o] = ts
	}
	return out
}

// resample2D applies separable row and column tap tables to an interleaved h x w x c
// image: first along x (into an h x ow x c buffer), then along y.
func resample2D(src []float32, h, w, c int, ty, tx [][]tap) []float32 {
	oh, ow := len(ty), len(tx)
	tmp := make([]float32, h*ow*c)
	for y := 0; y < h; y++ {
		row := src[y*w*c : (y+1)*w*c]
		orow := tmp[y*ow*c : (y+1)*ow*c]
		for x, ts := range tx {
			for ch := 0; ch < c; ch++ {
				var s float32
				for _, t := range ts {
					s += t.w * row[t.src*c+ch]
				}
				orow[x*c+ch] = s
			}
		}
	}
	dst := make([]float32, oh*ow*c)
	rl := ow * c
	for y, ts := range ty {
		orow := dst[y*rl : (y+1)*rl]
		for _, t := range ts {
			irow := tmp[t.src*rl : (t.src+1)*rl]
			for i, v := range irow {
				orow[i] += t.w * v
			}
		}
	}
	return dst
}

// PyrDown blurs an h x w image with c interleaved channels (HWC, float32) by the 5x5
// binomial filter with reflect-101 borders and keeps every second row and column, like
// cv2.pyrDown. The result is ceil(h/2) x ceil(w/2).
func PyrDown(src []float32, h, w, c int) (dst []float32, dh, dw int) {
	if len(src) != h*w*c {
		panic("metrics: PyrDown: bad source size")
	}
	ty, tx := cachedTaps(false, h, 0), cachedTaps(false, w, 0)
	return resample2D(src, h, w, c, ty, tx), len(ty), len(tx)
}

// PyrUp upsamples an h x w HWC image to dh x dw (normally 2h x 2w; 2h-1 is allowed so that
// odd sizes round-trip) the way the original pyr_up does: zero-stuff, then blur with 4x the
// 5x5 binomial filter under reflect-101 borders.
func PyrUp(src []float32, h, w, c, dh, dw int) []float32 {
	if len(src) != h*w*c {
		panic("metrics: PyrUp: bad source size")
	}
	if (dh+1)/2 != h || (dw+1)/2 != w {
		panic("metrics: PyrUp: destination size must be 2*src or 2*src-1")
	}
	return resample2D(src, h, w, c, cachedTaps(true, h, dh), cachedTaps(true, w, dw))
}

// Resolutions lists the pyramid level sizes for size x size images: size, then repeated
// halving (rounded up, as pyrDown produces), while the level is at least minRes. This is
// the original's rule (its levels are 48, 24 for 48 px and 64, 32, 16 for 64 px).
func Resolutions(size, minRes int) []int {
	var r []int
	for s := size; s >= minRes && s > 0; s = (s + 1) / 2 {
		r = append(r, s)
		if s == 1 {
			break
		}
	}
	return r
}

// LaplacianPyramid returns the first `levels` levels of the Laplacian pyramid of a
// size x size HWC image with c channels: level i = G_i - pyrUp(G_{i+1}) for i < levels-1,
// and the last level is the low-pass image G_{levels-1} itself. As in the original
// (generate_laplacian_pyramid with num_levels = number of resolutions >= 16), the pyramid
// stops at the smallest reported resolution, so for 48 px the levels are the 48-px band-pass
// and the 24-px low-pass, never a 12-px level.
func LaplacianPyramid(img []float32, size, c, levels int) [][]float32 {
	if levels < 1 {
		return nil
	}
	g := make([][]float32, levels)
	sz := make([]int, levels)
	g[0], sz[0] = img, size
	for i := 1; i < levels; i++ {
		g[i], sz[i], _ = PyrDown(g[i-1], sz[i-1], sz[i-1], c)
	}
	out := make([][]float32, levels)
	for i := 0; i < levels-1; i++ {
		up := PyrUp(g[i+1], sz[i+1], sz[i+1], c, sz[i], sz[i])
		l := make([]float32, len(g[i]))
		for j := range l {
			l[j] = g[i][j] - up[j]
		}
		out[i] = l
	}
	last := make([]float32, len(g[levels-1]))
	copy(last, g[levels-1])
	out[levels-1] = last
	return out
}

// levelImage returns level `level` of the `levels`-level Laplacian pyramid of one uint8
// HWC RGB image, computing only the Gaussian levels it needs: SWD works level by level so
// that only one level of every image is held in memory at a time.
func levelImage(img []uint8, size, level, levels int) ([]float32, int) {
	g := make([]float32, len(img))
	for i, v := range img {
		g[i] = float32(v)
	}
	s := size
	for i := 0; i < level; i++ {
		g, s, _ = PyrDown(g, s, s, 3)
	}
	if level == levels-1 {
		return g, s
	}
	d, ds, _ := PyrDown(g, s, s, 3)
	up := PyrUp(d, ds, ds, 3, s, s)
	for i := range g {
		g[i] -= up[i]
	}
	return g, s
}
