package render

import (
	"cmp"
	"image"
	"image/color"
	"slices"
)

// Palette returns at most limit colours (1..256) for the opaque pixels of imgs. When the
// images use no more than limit distinct colours, those are the palette and quantising
// is lossless; otherwise it is a median cut: colours are binned at 5 bits per channel,
// the box of bins with the widest weighted channel range is split at its weighted
// median until there are limit boxes, and each box contributes its pixels' mean colour.
// Alpha is ignored (generator output is opaque).
func Palette(imgs []*image.RGBA, limit int) color.Palette {
	limit = min(256, max(1, limit))
	// Exact distinct colours while they fit, counting each distinct image once.
	seen := make(map[*image.RGBA]bool, len(imgs))
	exact := make(map[uint32]struct{}, limit+1)
	var bins [1 << 15]bin
	for _, img := range imgs {
		if seen[img] {
			continue
		}
		seen[img] = true
		eachPixel(img, func(r, g, b uint8) {
			if len(exact) <= limit {
				exact[uint32(r)<<16|uint32(g)<<8|uint32(b)] = struct{}{}
			}
			k := &bins[int(r>>3)<<10|int(g>>3)<<5|int(b>>3)]
			k.n++
			k.sum[0] += uint64(r)
			k.sum[1] += uint64(g)
			k.sum[2] += uint64(b)
		})
	}
	if len(exact) <= limit {
		keys := make([]uint32, 0, len(exact))
		for c := range exact {
			keys = append(keys, c)
		}
		slices.Sort(keys) // deterministic order: the same frames give the same bytes
		pal := make(color.Palette, len(keys))
		for i, c := range keys {
			pal[i] = color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 255}
		}
		return pal
	}

	var used []bin
	for i := range bins {
		if bins[i].n > 0 {
			b := bins[i]
			b.mean = [3]uint8{uint8(b.sum[0] / b.n), uint8(b.sum[1] / b.n), uint8(b.sum[2] / b.n)}
			used = append(used, b)
		}
	}
	boxes := []box{{used}}
	for len(boxes) < limit {
		// Split the box whose widest channel range, weighted by its pixel count,
		// is largest: big, spread-out populations get the most colours.
		best, bestScore, bestCh := -1, uint64(0), 0
		for i, bx := range boxes {
			if len(bx.bins) < 2 {
				continue
			}
			ch, rng := bx.widest()
			if s := uint64(rng) * bx.count(); s > bestScore {
				best, bestScore, bestCh = i, s, ch
			}
		}
		if best < 0 {
			break
		}
		lo, hi := boxes[best].split(bestCh)
		boxes[best] = lo
		boxes = append(boxes, hi)
	}
	pal := make(color.Palette, len(boxes))
	for i, bx := range boxes {
		var n uint64
		var s [3]uint64
		for _, b := range bx.bins {
			n += b.n
			for c := range s {
				s[c] += b.sum[c]
			}
		}
		pal[i] = color.RGBA{uint8((s[0] + n/2) / n), uint8((s[1] + n/2) / n), uint8((s[2] + n/2) / n), 255}
	}
	return pal
}

// bin is one 15-bit colour cell of the histogram.
type bin struct {
	n    uint64
	sum  [3]uint64
	mean [3]uint8
}

// box is a set of bins that will become one palette colour.
type box struct{ bins []bin }

func (bx box) count() (n uint64) {
	for _, b := range bx.bins {
		n += b.n
	}
	return n
}

// widest returns the channel with the largest range of bin means, and the range.
func (bx box) widest() (ch int, rng int) {
	for c := range 3 {
		lo, hi := uint8(255), uint8(0)
		for _, b := range bx.bins {
			lo, hi = min(lo, b.mean[c]), max(hi, b.mean[c])
		}
		if r := int(hi) - int(lo); r > rng {
			ch, rng = c, r
		}
	}
	return ch, rng
}

// split sorts the bins along ch and cuts at the weighted median, leaving at least one
// bin on each side.
func (bx box) split(ch int) (box, box) {
	slices.SortFunc(bx.bins, func(a, b bin) int { return cmp.Compare(a.mean[ch], b.mean[ch]) })
	half := bx.count() / 2
	var acc uint64
	cut := 1
	for i, b := range bx.bins[:len(bx.bins)-1] {
		acc += b.n
		cut = i + 1
		if acc >= half {
			break
		}
	}
	return box{bx.bins[:cut:cut]}, box{bx.bins[cut:]}
}

// eachPixel calls f with the RGB of every pixel of img.
func eachPixel(img *image.RGBA, f func(r, g, b uint8)) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			f(row[i], row[i+1], row[i+2])
		}
	}
}

// mapper maps RGB colours to their nearest palette entry, remembering answers in a
// direct-mapped cache (a 48 px avatar has a few thousand colours, its upscaled frames
// the same ones many times over; a Go map costs more than the search it saves).
type mapper struct {
	pal   color.Palette
	rgb   [][3]int32
	cache []mapEntry
}

// mapEntry is one cache slot: key is the colour plus 1<<24 (0 marks an empty slot).
type mapEntry struct {
	key uint32
	idx uint8
}

const mapCacheBits = 16

func newMapper(pal color.Palette) *mapper {
	m := &mapper{pal: pal, cache: make([]mapEntry, 1<<mapCacheBits)}
	for _, c := range pal {
		r, g, b, _ := c.RGBA()
		m.rgb = append(m.rgb, [3]int32{int32(r >> 8), int32(g >> 8), int32(b >> 8)})
	}
	return m
}

// index returns the palette entry nearest to (r, g, b) in squared RGB distance.
func (m *mapper) index(r, g, b uint8) uint8 {
	key := 1<<24 | uint32(r)<<16 | uint32(g)<<8 | uint32(b)
	slot := &m.cache[(key*2654435761)>>(32-mapCacheBits)]
	if slot.key == key {
		return slot.idx
	}
	best, bestD := 0, int32(1<<30)
	for i, p := range m.rgb {
		dr, dg, db := p[0]-int32(r), p[1]-int32(g), p[2]-int32(b)
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
			if d == 0 {
				break
			}
		}
	}
	*slot = mapEntry{key, uint8(best)}
	return uint8(best)
}

// paletted returns img mapped onto the palette without dithering.
func (m *mapper) paletted(img *image.RGBA) *image.Paletted {
	b := img.Bounds()
	p := image.NewPaletted(image.Rect(0, 0, b.Dx(), b.Dy()), m.pal)
	o := 0
	last, lastIdx := uint32(0), uint8(0) // 0: no colour yet
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			key := 1<<24 | uint32(row[i])<<16 | uint32(row[i+1])<<8 | uint32(row[i+2])
			if key != last { // runs of one colour are common (upscaled pixels)
				last, lastIdx = key, m.index(row[i], row[i+1], row[i+2])
			}
			p.Pix[o] = lastIdx
			o++
		}
	}
	return p
}
