package facedetect

import (
	"image"
	"math"
)

// groupRectangles merges raw hits as OpenCV's groupRectangles(rectList,
// weights, groupThreshold, eps) does: hits are partitioned into classes of
// similar boxes (transitively), each class is averaged, classes with at most
// groupThreshold members are dropped, and so are boxes lying inside a
// larger, better supported one. Classes keep the order of their first hit.
func groupRectangles(rects []image.Rectangle, groupThreshold int, eps float64) []Face {
	if len(rects) == 0 {
		return nil
	}
	if groupThreshold <= 0 {
		fs := make([]Face, len(rects))
		for i, r := range rects {
			fs[i] = Face{r, 1}
		}
		return fs
	}
	labels, nclasses := partition(rects, eps)

	type acc struct{ x, y, w, h, n int }
	sums := make([]acc, nclasses)
	for i, r := range rects {
		a := &sums[labels[i]]
		a.x += r.Min.X
		a.y += r.Min.Y
		a.w += r.Dx()
		a.h += r.Dy()
		a.n++
	}
	type box struct{ x, y, w, h int }
	avg := make([]box, nclasses)
	for i, a := range sums {
		s := 1 / float32(a.n)
		avg[i] = box{roundF(float32(a.x) * s), roundF(float32(a.y) * s), roundF(float32(a.w) * s), roundF(float32(a.h) * s)}
	}
	var out []Face
	for i, r1 := range avg {
		n1 := sums[i].n
		if n1 <= groupThreshold {
			continue
		}
		inside := false
		for j, r2 := range avg {
			n2 := sums[j].n
			if j == i || n2 <= groupThreshold {
				continue
			}
			dx := int(math.RoundToEven(float64(r2.w) * eps))
			dy := int(math.RoundToEven(float64(r2.h) * eps))
			if r1.x >= r2.x-dx && r1.y >= r2.y-dy &&
				r1.x+r1.w <= r2.x+r2.w+dx && r1.y+r1.h <= r2.y+r2.h+dy &&
				(n2 > max(3, n1) || n1 < 3) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, Face{image.Rect(r1.x, r1.y, r1.x+r1.w, r1.y+r1.h), n1})
		}
	}
	return out
}

// roundF is cvRound on a float: round half to even.
func roundF(v float32) int { return int(math.RoundToEven(float64(v))) }

// similar is OpenCV's SimilarRects: every edge within eps times the mean of
// the smaller width and height.
func similar(a, b image.Rectangle, eps float64) bool {
	delta := eps * float64(min(a.Dx(), b.Dx())+min(a.Dy(), b.Dy())) * 0.5
	return math.Abs(float64(a.Min.X-b.Min.X)) <= delta &&
		math.Abs(float64(a.Min.Y-b.Min.Y)) <= delta &&
		math.Abs(float64(a.Max.X-b.Max.X)) <= delta &&
		math.Abs(float64(a.Max.Y-b.Max.Y)) <= delta
}

// partition labels the connected components of the similarity graph
// (cv::partition), numbering classes in order of their first member.
func partition(rects []image.Rectangle, eps float64) ([]int, int) {
	parent := make([]int, len(rects))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// Hits are sorted by level, and boxes of levels far apart cannot be
	// similar, but the quadratic loop is cheap next to the scan (a few
	// thousand hits at most) and obviously right.
	for i := range rects {
		for j := i + 1; j < len(rects); j++ {
			if similar(rects[i], rects[j], eps) {
				if a, b := find(i), find(j); a != b {
					parent[b] = a
				}
			}
		}
	}
	labels := make([]int, len(rects))
	cls := make(map[int]int)
	for i := range rects {
		root := find(i)
		l, ok := cls[root]
		if !ok {
			l = len(cls)
			cls[root] = l
		}
		labels[i] = l
	}
	return labels, len(cls)
}
