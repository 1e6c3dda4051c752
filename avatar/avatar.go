// Package avatar is a trained generator ready to draw avatars: it loads a generator from
// a run directory, a training checkpoint or a generator-only safetensors file, maps seeds
// to latent vectors and renders images. generate, interpolate, eval, export and serve all
// go through it, so a seed gives the same avatar in every tool.
package avatar

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"sync"

	"avatargan/checkpoint"
	"avatargan/dcgan"
	"avatargan/internal/state"
	"avatargan/render"
)

// Spec describes a generator's shape: what a generator-only file records in its
// metadata so that it can be loaded without the training configuration.
type Spec struct {
	Size int        `json:"size"`
	ZDim int        `json:"zdim"`
	GF   int        `json:"gf"`
	Dist dcgan.Dist `json:"dist"`
}

// chunk bounds the batch of one generator pass: the layers' buffers grow with the batch
// (deconv3's column buffer is ~0.9 MB per image), so large n is done in pieces.
const chunk = 128

// Model is a generator in evaluation mode. It is safe for concurrent use: calls to
// Generate are serialised because the generator reuses its layer buffers.
type Model struct {
	spec Spec
	id   string

	mu sync.Mutex
	g  *dcgan.Generator
}

// New wraps a generator and freezes it (its weights must not change afterwards). The id
// names the weights (used for HTTP ETags); it should
// change whenever the weights do.
func New(g *dcgan.Generator, spec Spec, id string) *Model {
	g.Freeze()
	return &Model{spec: spec, id: id, g: g}
}

// ZDim returns the latent size.
func (m *Model) ZDim() int { return m.spec.ZDim }

// Size returns the side of the images in pixels.
func (m *Model) Size() int { return m.spec.Size }

// Spec returns the generator's shape.
func (m *Model) Spec() Spec { return m.spec }

// ID returns a short identifier of the weights.
func (m *Model) ID() string { return m.id }

// Generator returns the underlying generator; callers must not use it concurrently with
// Generate.
func (m *Model) Generator() *dcgan.Generator { return m.g }

// Latent fills z with the latent vector of seed (dcgan.Latent with the model's
// distribution).
func (m *Model) Latent(seed uint64, z []float32) { dcgan.Latent(seed, m.spec.Dist, z) }

// Seeds returns the concatenated latents of seeds.
func (m *Model) Seeds(seeds ...uint64) []float32 {
	z := make([]float32, len(seeds)*m.spec.ZDim)
	for i, s := range seeds {
		m.Latent(s, z[i*m.spec.ZDim:(i+1)*m.spec.ZDim])
	}
	return z
}

// Tensor runs the generator in evaluation mode on the concatenated latents z and returns
// the images as NCHW float32 in [-1, 1].
func (m *Model) Tensor(z []float32) ([]float32, error) {
	zd := m.spec.ZDim
	if len(z) == 0 || len(z)%zd != 0 {
		return nil, fmt.Errorf("avatar: %d latent values is not a positive multiple of %d", len(z), zd)
	}
	n := len(z) / zd
	per := 3 * m.spec.Size * m.spec.Size
	out := make([]float32, n*per)
	m.mu.Lock()
	defer m.mu.Unlock()
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		y := m.g.Forward(z[lo*zd:hi*zd], hi-lo, false)
		copy(out[lo*per:hi*per], y)
	}
	return out, nil
}

// Generate renders one image per latent vector in z.
func (m *Model) Generate(z []float32) ([]*image.RGBA, error) {
	x, err := m.Tensor(z)
	if err != nil {
		return nil, err
	}
	return render.ToImages(x, len(z)/m.spec.ZDim, m.spec.Size), nil
}

// Untrained returns a freshly initialised generator of spec (the baseline an evaluation
// compares against).
func Untrained(spec Spec, seed uint64) (*Model, error) {
	cfg := dcgan.DefaultConfig()
	cfg.Size, cfg.ZDim, cfg.GF, cfg.Dist, cfg.Seed = spec.Size, spec.ZDim, spec.GF, spec.Dist, seed
	tr, err := dcgan.NewTrainer(cfg)
	if err != nil {
		return nil, err
	}
	return New(tr.G, spec, "untrained-"+strconv.FormatUint(seed, 10)), nil
}

// Metadata keys and values of avatargan's safetensors files; they are defined in
// package checkpoint, which train (below avatar) writes them with.
const (
	MetaFormat      = checkpoint.MetaFormat
	MetaSpec        = checkpoint.MetaSpec
	MetaConfig      = checkpoint.MetaConfig
	FormatGenerator = checkpoint.FormatGenerator
	FormatTrain     = checkpoint.FormatTrain
)

// Load reads a generator from path: a run directory (its latest checkpoint), a training
// checkpoint (the EMA weights when the run kept them, with BatchNorm statistics
// recalibrated, else the live generator), or a generator-only file written by Save.
func Load(path string) (*Model, error) { return LoadWith(path, false) }

// LoadWith is Load with a choice: live selects a training checkpoint's live generator even
// when the run kept an EMA (to measure what the average gains).
func LoadWith(path string, live bool) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		latest, err := checkpoint.Latest(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		path = latest
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := decode(data, live)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Decode reads a generator from the bytes of a safetensors file (see Load).
func Decode(data []byte) (*Model, error) { return decode(data, false) }

func decode(data []byte, live bool) (*Model, error) {
	f, err := checkpoint.Decode(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:6])
	switch f.Metadata[MetaFormat] {
	case FormatGenerator:
		var spec Spec
		if err := json.Unmarshal([]byte(f.Metadata[MetaSpec]), &spec); err != nil {
			return nil, fmt.Errorf("avatar: generator file has no valid %q metadata: %v", MetaSpec, err)
		}
		g, err := newGenerator(spec)
		if err != nil {
			return nil, err
		}
		if err := state.Load(f, "", g.Tensors(), false); err != nil {
			return nil, err
		}
		return New(g, spec, id), nil
	case FormatTrain:
		var cfg dcgan.Config
		if err := json.Unmarshal([]byte(f.Metadata[MetaConfig]), &cfg); err != nil {
			return nil, fmt.Errorf("avatar: checkpoint has no valid %q metadata: %v", MetaConfig, err)
		}
		spec := Spec{Size: cfg.Size, ZDim: cfg.ZDim, GF: cfg.GF, Dist: cfg.Dist}
		g, err := newGenerator(spec)
		if err != nil {
			return nil, err
		}
		if err := state.Load(f, "generator.", g.Tensors(), false); err != nil {
			return nil, err
		}
		if live {
			id += "-live"
		}
		if _, ok := f.Get("ema.fc.weight"); ok && !live {
			ema := dcgan.NewEMA(g, 0)
			if err := state.Load(f, "ema.", ema.Tensors(), false); err != nil {
				return nil, err
			}
			ema.CopyTo(g)
			RecalibrateBN(g, spec)
		}
		return New(g, spec, id), nil
	}
	return nil, errors.New("avatar: not an avatargan generator or checkpoint (no format metadata)")
}

// RecalibrateBN recomputes g's BatchNorm running statistics from a fixed set of latents;
// needed after loading EMA weights, whose statistics the live run never measured.
func RecalibrateBN(g *dcgan.Generator, spec Spec) { dcgan.Recalibrate(g, spec.Dist) }

func newGenerator(spec Spec) (*dcgan.Generator, error) {
	cfg := dcgan.DefaultConfig()
	cfg.Size, cfg.ZDim, cfg.GF, cfg.Dist = spec.Size, spec.ZDim, spec.GF, spec.Dist
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return dcgan.NewGenerator(spec.Size, spec.ZDim, spec.GF), nil
}

// Save writes the generator alone, with the reference module's names and no prefix, so
// that Generator(size, z, gf).load_state_dict() of the PyTorch reference loads it. dtype
// is "F32" or "F16" (half the size; a converting loader is needed on the PyTorch side
// only for F16). The file is written atomically.
func (m *Model) Save(path, dtype string) error {
	spec, err := json.Marshal(m.spec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := state.Tensors("", m.g.Tensors(), dtype)
	return checkpoint.Save(path, ts, map[string]string{MetaFormat: FormatGenerator, MetaSpec: string(spec)})
}
