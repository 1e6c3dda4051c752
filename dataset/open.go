package dataset

import (
	"fmt"
	"image"
)

// DecodeFile reads and decodes one image file with the guards Load applies
// to every file: a byte limit, a pixel budget checked on the header before
// any pixel is allocated (maxPixels; 0 means DefaultMaxPixels), a minimum
// side (minSide; 0 means DefaultMinSide) and recovery from decoder panics.
// It returns the image as decoded (no crop, resize or colour conversion).
// SkipReason names why a file was refused. Other tools that read folders
// of images (the crop command) use it so they accept and refuse the same
// files as train.
func DecodeFile(path string, maxPixels, minSide int) (image.Image, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if minSide <= 0 {
		minSide = DefaultMinSide
	}
	b, err := readFile(path, maxPixels, nil)
	if err == nil {
		var img image.Image
		if img, err = decodeChecked(b, minSide, maxPixels); err == nil {
			return img, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", path, err)
}

// SkipReason returns the Report reason (one of the Reason constants) for an
// error from DecodeFile.
func SkipReason(err error) string { return reasonOf(err) }

// IsImageName reports whether a file name has one of the extensions Load
// scans for (.jpg, .jpeg, .png, .gif, .webp, any case).
func IsImageName(name string) bool { return imageExt(name) }
