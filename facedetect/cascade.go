package facedetect

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"avatargan/internal/regularfile"
)

// animeFaceXML is nagadomi's lbpcascade_animeface (MIT licence, kept in the
// file's header comment).
//
//go:embed lbpcascade_animeface.xml
var animeFaceXML []byte

// AnimeFace returns nagadomi's anime-face cascade, which is embedded in the
// binary. Each call parses it afresh, so callers own the result.
func AnimeFace() *Cascade {
	c, err := ParseCascade(animeFaceXML)
	if err != nil {
		panic("facedetect: embedded cascade: " + err.Error())
	}
	return c
}

// Limits on what ParseCascade accepts. A cascade is untrusted input (the
// crop command loads one named by the user); these bound the memory it can
// claim and the work one window can cost, far above any real cascade
// (lbpcascade_animeface: 20 stages, 642 features, 1 node per tree).
const (
	maxCascadeBytes = 64 << 20
	maxStages       = 1000
	maxTrees        = 100000
	maxNodesPerTree = 256
	maxFeatures     = 100000
	maxWindow       = 1024
)

// lbpCategories is the number of LBP codes: one bit per neighbour block.
const lbpCategories = 256

// Cascade is a boosted cascade of LBP classifiers in OpenCV's format
// (opencv_traincascade -featureType LBP). It is immutable once parsed and
// safe for concurrent use.
type Cascade struct {
	// Width and Height are the detection window the cascade was trained on.
	Width, Height int

	stages   []stage
	trees    []tree
	nodes    []node
	leaves   []float32
	features []feature
	stumps   bool // every tree is a single node: the fast path applies
}

type stage struct {
	first, ntrees int     // trees[first : first+ntrees]
	threshold     float32 // already lowered by OpenCV's THRESHOLD_EPS
}

type tree struct {
	node, leaf int // index of the root in nodes and of the first leaf in leaves
	nodes      int // node count
}

// node is a split on one LBP feature: code c goes left when bit c of subset
// is set. A child > 0 is a node index relative to the tree's root, a child
// <= 0 is -(leaf index).
type node struct {
	feature     int32
	left, right int32
	subset      [lbpCategories / 32]uint32
}

// feature is a multi-block LBP feature: a 3x3 grid of w x h blocks whose
// top-left corner is (x, y) in window coordinates.
type feature struct{ x, y, w, h int }

// XML shapes of OpenCV's FileStorage for a new-format cascade. The root
// element's first child is the cascade, whatever its name.
type xmlStorage struct {
	Nodes []xmlCascade `xml:",any"`
}

type xmlCascade struct {
	StageType     string `xml:"stageType"`
	FeatureType   string `xml:"featureType"`
	Height        string `xml:"height"`
	Width         string `xml:"width"`
	FeatureParams struct {
		MaxCatCount string `xml:"maxCatCount"`
	} `xml:"featureParams"`
	Stages []struct {
		Threshold string `xml:"stageThreshold"`
		Weak      []struct {
			InternalNodes string `xml:"internalNodes"`
			LeafValues    string `xml:"leafValues"`
		} `xml:"weakClassifiers>_"`
	} `xml:"stages>_"`
	Features []struct {
		Rect string `xml:"rect"`
	} `xml:"features>_"`
}

// ParseCascade reads an LBP cascade in OpenCV's XML format (as written by
// opencv_traincascade and read by cv::CascadeClassifier). Haar cascades and
// the pre-2.0 "old format" are not supported. The input may be untrusted:
// every index is checked, sizes are bounded, and trees must be acyclic.
func ParseCascade(b []byte) (*Cascade, error) {
	c, err := parseCascade(b)
	if err != nil {
		return nil, fmt.Errorf("facedetect: cascade: %w", err)
	}
	return c, nil
}

// ReadCascade reads and parses the cascade file at path. It refuses anything
// but a regular file (a FIFO or device would block or never end) and reads
// at most the parser's size limit, so a wrong path fails fast.
func ReadCascade(path string) (*Cascade, error) {
	b, err := regularfile.Read(path, maxCascadeBytes)
	if err != nil {
		return nil, fmt.Errorf("facedetect: cascade: %w", err)
	}
	c, err := parseCascade(b)
	if err != nil {
		return nil, fmt.Errorf("facedetect: cascade: %s: %w", path, err)
	}
	return c, nil
}

func parseCascade(b []byte) (*Cascade, error) {
	if len(b) > maxCascadeBytes {
		return nil, fmt.Errorf("%d bytes, over the %d limit", len(b), maxCascadeBytes)
	}
	var st xmlStorage
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&st); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	if len(st.Nodes) == 0 {
		return nil, errors.New("no cascade in the document")
	}
	x := &st.Nodes[0]
	if s := strings.TrimSpace(x.StageType); s != "BOOST" {
		return nil, fmt.Errorf("stageType %q: want BOOST", s)
	}
	switch s := strings.TrimSpace(x.FeatureType); s {
	case "LBP":
	case "HAAR", "HOG":
		return nil, fmt.Errorf("featureType %s: only LBP cascades are supported", s)
	default:
		return nil, fmt.Errorf("featureType %q: want LBP (is this an old-format cascade?)", s)
	}
	c := &Cascade{}
	var err error
	if c.Width, err = atoi(x.Width, "width"); err != nil {
		return nil, err
	}
	if c.Height, err = atoi(x.Height, "height"); err != nil {
		return nil, err
	}
	if c.Width < 1 || c.Height < 1 || c.Width > maxWindow || c.Height > maxWindow {
		return nil, fmt.Errorf("window %dx%d: want 1..%d", c.Width, c.Height, maxWindow)
	}
	ncat, err := atoi(x.FeatureParams.MaxCatCount, "maxCatCount")
	if err != nil {
		return nil, err
	}
	if ncat != lbpCategories {
		return nil, fmt.Errorf("maxCatCount %d: an LBP cascade has %d", ncat, lbpCategories)
	}

	// Features first, so nodes can be checked against their count.
	if len(x.Features) == 0 || len(x.Features) > maxFeatures {
		return nil, fmt.Errorf("%d features: want 1..%d", len(x.Features), maxFeatures)
	}
	c.features = make([]feature, len(x.Features))
	for i, f := range x.Features {
		v, err := ints(f.Rect, 4)
		if err != nil {
			return nil, fmt.Errorf("feature %d: rect: %w", i, err)
		}
		ft := feature{int(v[0]), int(v[1]), int(v[2]), int(v[3])}
		// The 3x3 grid of blocks must lie inside the window, or the
		// evaluator would read outside the integral image.
		if ft.x < 0 || ft.y < 0 || ft.w < 1 || ft.h < 1 ||
			ft.x+3*ft.w > c.Width || ft.y+3*ft.h > c.Height {
			return nil, fmt.Errorf("feature %d: rect %v: its 3x3 blocks leave the %dx%d window", i, v, c.Width, c.Height)
		}
		c.features[i] = ft
	}

	const nodeStep = 3 + lbpCategories/32 // left, right, feature, subset words
	if len(x.Stages) == 0 || len(x.Stages) > maxStages {
		return nil, fmt.Errorf("%d stages: want 1..%d", len(x.Stages), maxStages)
	}
	c.stumps = true
	for si, xs := range x.Stages {
		thr, err := atof(xs.Threshold, "stageThreshold")
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", si, err)
		}
		// OpenCV: stage.threshold = (float)thr - THRESHOLD_EPS, in float.
		s := stage{first: len(c.trees), ntrees: len(xs.Weak), threshold: thr - 1e-5}
		if s.ntrees == 0 {
			return nil, fmt.Errorf("stage %d: no weak classifiers", si)
		}
		if len(c.trees)+s.ntrees > maxTrees {
			return nil, fmt.Errorf("more than %d weak classifiers", maxTrees)
		}
		for wi, w := range xs.Weak {
			where := func(err error) error { return fmt.Errorf("stage %d, weak classifier %d: %w", si, wi, err) }
			in, err := ints(w.InternalNodes, -1)
			if err != nil {
				return nil, where(fmt.Errorf("internalNodes: %w", err))
			}
			if len(in) == 0 || len(in)%nodeStep != 0 || len(in)/nodeStep > maxNodesPerTree {
				return nil, where(fmt.Errorf("internalNodes: %d numbers, want a multiple of %d (at most %d nodes)", len(in), nodeStep, maxNodesPerTree))
			}
			lv, err := floats(w.LeafValues)
			if err != nil {
				return nil, where(fmt.Errorf("leafValues: %w", err))
			}
			n := len(in) / nodeStep
			if len(lv) != n+1 {
				return nil, where(fmt.Errorf("%d leaf values for %d nodes, want %d", len(lv), n, n+1))
			}
			t := tree{node: len(c.nodes), leaf: len(c.leaves), nodes: n}
			for k := 0; k < n; k++ {
				v := in[k*nodeStep : (k+1)*nodeStep]
				nd := node{left: v[0], right: v[1], feature: v[2]}
				if nd.feature < 0 || int(nd.feature) >= len(c.features) {
					return nil, where(fmt.Errorf("node %d: feature %d out of range [0, %d)", k, nd.feature, len(c.features)))
				}
				// Children must point forward (traincascade writes trees
				// in pre-order), so every walk ends; leaves must exist.
				for _, ch := range [2]int32{nd.left, nd.right} {
					if ch > 0 && (int(ch) <= k || int(ch) >= n) || ch <= 0 && int(-ch) > n {
						return nil, where(fmt.Errorf("node %d: child %d out of range", k, ch))
					}
				}
				for j := range nd.subset {
					nd.subset[j] = uint32(v[3+j])
				}
				c.nodes = append(c.nodes, nd)
			}
			c.leaves = append(c.leaves, lv...)
			c.trees = append(c.trees, t)
			if n != 1 {
				c.stumps = false
			}
		}
		c.stages = append(c.stages, s)
	}
	return c, nil
}

// atoi parses one integer element.
func atoi(s, name string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", name, strings.TrimSpace(s))
	}
	return v, nil
}

// atof parses one number element and rounds it to float32 as OpenCV stores it.
func atof(s, name string) (float32, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	f := float32(v) // via float64, as OpenCV's (float)(double) does
	if err != nil || math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return 0, fmt.Errorf("%s: %q is not a finite float32", name, strings.TrimSpace(s))
	}
	return f, nil
}

// ints parses whitespace-separated int32s; want < 0 accepts any count.
func ints(s string, want int) ([]int32, error) {
	f := strings.Fields(s)
	if want >= 0 && len(f) != want {
		return nil, fmt.Errorf("%d numbers, want %d", len(f), want)
	}
	v := make([]int32, len(f))
	for i, t := range f {
		n, err := strconv.ParseInt(t, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a 32-bit integer", t)
		}
		v[i] = int32(n)
	}
	return v, nil
}

// floats parses whitespace-separated finite numbers as float32.
func floats(s string) ([]float32, error) {
	f := strings.Fields(s)
	v := make([]float32, len(f))
	for i, t := range f {
		x, err := strconv.ParseFloat(t, 64)
		v[i] = float32(x)
		if err != nil || math.IsNaN(float64(v[i])) || math.IsInf(float64(v[i]), 0) {
			return nil, fmt.Errorf("%q is not a finite float32", t)
		}
	}
	return v, nil
}
