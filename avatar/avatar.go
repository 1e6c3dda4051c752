// Package avatar is a trained generator ready to draw avatars: it loads a generator from
// a run directory, a training checkpoint or a generator-only safetensors file, maps seeds
// to latent vectors and renders images. generate, interpolate, eval, export and serve all
// go through it, so a seed gives the same avatar in every tool.
package avatar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strconv"
	"sync"

	"avatargan/checkpoint"
	"avatargan/dcgan"
	"avatargan/facedetect"
	"avatargan/internal/atomicfile"
	"avatargan/internal/regularfile"
	"avatargan/internal/state"
	"avatargan/render"
)

// Spec describes a generator's shape: what a generator-only file records in its
// metadata so that it can be loaded without the training configuration.
type Spec = dcgan.Spec

// maxChunk bounds the batch of one generator pass, and chunkBytes the memory of its
// layer buffers (deconv3's column buffer alone is ~0.9 MB per image at 48 px): large n
// is done in pieces, fewer images per piece for larger models (about 40 at 48 px, which
// also keeps the time between two checks of a context short).
const (
	maxChunk   = 128
	chunkBytes = 64 << 20
)

// Model is a generator in evaluation mode. It is safe for concurrent use: calls to
// Generate are serialised because the generator reuses its layer buffers.
type Model struct {
	spec  Spec
	id    string
	chunk int // images per generator pass

	mu sync.Mutex
	g  *dcgan.Generator

	tries   int                 // SetFaceCheck's draws per seed; <= 1: no check
	cascade *facedetect.Cascade // the face check's detector, when on
}

// New wraps a generator and freezes it (its weights must not change afterwards). The id
// names the weights (used for HTTP ETags); it should
// change whenever the weights do.
func New(g *dcgan.Generator, spec Spec, id string) *Model {
	g.Freeze()
	chunk := maxChunk
	if m, err := dcgan.EstimateGenerator(spec.Size, spec.ZDim, spec.GF, spec.Refine); err == nil {
		chunk = int(max(1, min(maxChunk, chunkBytes/m.Image)))
	}
	return &Model{spec: spec, id: id, chunk: chunk, g: g}
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
	return m.TensorContext(context.Background(), z)
}

// TensorContext is Tensor that gives up between generator passes once ctx is done,
// returning ctx's error: a large batch is generated in pieces of a few dozen images.
func (m *Model) TensorContext(ctx context.Context, z []float32) ([]float32, error) {
	zd := m.spec.ZDim
	if len(z) == 0 || len(z)%zd != 0 {
		return nil, fmt.Errorf("avatar: %d latent values is not a positive multiple of %d", len(z), zd)
	}
	n := len(z) / zd
	per := 3 * m.spec.Size * m.spec.Size
	if int64(n) > MaxImageBytes/int64(4*per) {
		return nil, fmt.Errorf("avatar: %d images of %d px would need more than %s", n, m.spec.Size, dcgan.GiB(MaxImageBytes))
	}
	out := make([]float32, n*per)
	m.mu.Lock()
	defer m.mu.Unlock()
	for lo := 0; lo < n; lo += m.chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(n, lo+m.chunk)
		y := m.g.Forward(z[lo*zd:hi*zd], hi-lo, false)
		copy(out[lo*per:hi*per], y)
	}
	return out, nil
}

// MaxImageBytes bounds the float32 output of one Tensor or Generate call; callers that
// need more images generate them in pieces.
const MaxImageBytes = 2 << 30

// Generate renders one image per latent vector in z.
func (m *Model) Generate(z []float32) ([]*image.RGBA, error) {
	return m.GenerateContext(context.Background(), z)
}

// GenerateContext is Generate that gives up between generator passes once ctx is done.
func (m *Model) GenerateContext(ctx context.Context, z []float32) ([]*image.RGBA, error) {
	x, err := m.TensorContext(ctx, z)
	if err != nil {
		return nil, err
	}
	return render.ToImages(x, len(z)/m.spec.ZDim, m.spec.Size), nil
}

// Untrained returns a freshly initialised generator of spec (the baseline an evaluation
// compares against).
func Untrained(spec Spec, seed uint64) (*Model, error) {
	cfg := dcgan.DefaultConfig()
	cfg.Size, cfg.ZDim, cfg.GF, cfg.Refine, cfg.Dist, cfg.Seed = spec.Size, spec.ZDim, spec.GF, spec.Refine, spec.Dist, seed
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
// when the run kept an EMA (to measure what the average gains, or to publish the live
// weights where they score better); live on a generator-only file is an error.
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
	// The header first: a file that is not an avatargan model is refused without
	// reading what may be gigabytes of someone else's tensors.
	meta, err := checkpoint.ReadMetadata(path)
	if err != nil {
		return nil, err
	}
	if _, _, err := specOf(meta, live); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// A regular file of at most MaxFileSize bytes: /dev/zero would grow forever and
	// opening a FIFO would block (even through Ctrl-C).
	data, err := regularfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	m, err := decode(data, live)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// MaxFileSize bounds the files Load reads: a reference training checkpoint is ~128 MB,
// and the largest network dcgan accepts has 4 GiB of weights.
const MaxFileSize = checkpoint.MaxFileSize

// Decode reads a generator from the bytes of a safetensors file (see Load).
func Decode(data []byte) (*Model, error) { return decode(data, false) }

func decode(data []byte, live bool) (*Model, error) {
	// What the file is, and the network it claims, are checked from the header alone:
	// a foreign safetensors file (a language model's, gigabytes of BF16) is refused
	// before Decode converts its tensors to float32.
	meta, err := checkpoint.DecodeMetadata(data)
	if err != nil {
		return nil, err
	}
	spec, prefix, err := specOf(meta, live)
	if err != nil {
		return nil, err
	}
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	// Every weight is in the file, at 2 bytes or more (F16, BF16): a file too small
	// for the network its metadata claims is refused before that network is allocated,
	// so a small hostile file cannot claim gigabytes.
	if est, _ := dcgan.EstimateGenerator(spec.Size, spec.ZDim, spec.GF, spec.Refine); est.Params/8*2 > int64(len(data)) {
		return nil, fmt.Errorf("avatar: a %d byte file cannot hold the weights of the network its metadata claims (size %d, zdim %d, gf %d, refine %d)",
			len(data), spec.Size, spec.ZDim, spec.GF, spec.Refine)
	}
	f, err := checkpoint.Decode(data)
	if err != nil {
		return nil, err
	}
	g := dcgan.NewGeneratorRefine(spec.Size, spec.ZDim, spec.GF, spec.Refine)
	if err := state.LoadAll(f, prefix, g.Tensors()); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:6])
	if prefix == "" {
		return New(g, spec, id), nil
	}
	if live {
		id += "-live"
	}
	if _, ok := f.Get("ema.fc.weight"); ok && !live {
		ema := dcgan.NewEMA(g, 0)
		if err := state.LoadAll(f, "ema.", ema.Tensors()); err != nil {
			return nil, err
		}
		ema.CopyTo(g)
		RecalibrateBN(g, spec)
	}
	return New(g, spec, id), nil
}

// specOf reads the generator's spec from a file's metadata, and the prefix of its
// tensors' names: "" in a generator file, "generator." in a training checkpoint.
func specOf(meta map[string]string, live bool) (Spec, string, error) {
	switch meta[MetaFormat] {
	case FormatGenerator:
		if live {
			return Spec{}, "", errors.New("avatar: live weights asked of a generator-only file: only a training checkpoint holds both live and EMA weights")
		}
		var spec Spec
		if err := json.Unmarshal([]byte(meta[MetaSpec]), &spec); err != nil {
			return Spec{}, "", fmt.Errorf("avatar: generator file has no valid %q metadata: %v", MetaSpec, err)
		}
		return spec, "", nil
	case FormatTrain:
		var cfg dcgan.Config
		if err := json.Unmarshal([]byte(meta[MetaConfig]), &cfg); err != nil {
			return Spec{}, "", fmt.Errorf("avatar: checkpoint has no valid %q metadata: %v", MetaConfig, err)
		}
		return cfg.Spec(), "generator.", nil
	}
	return Spec{}, "", errors.New("avatar: not an avatargan generator or checkpoint (no format metadata)")
}

// RecalibrateBN recomputes g's BatchNorm running statistics from a fixed set of latents;
// needed after loading EMA weights, whose statistics the live run never measured.
func RecalibrateBN(g *dcgan.Generator, spec Spec) { dcgan.Recalibrate(g, spec.Dist) }

// checkSpec checks, before anything is allocated, that spec's shape is valid and fits
// in memory: spec comes from a file's metadata.
func checkSpec(spec Spec) error {
	if err := dcgan.CheckGenerator(spec.Size, spec.ZDim, spec.GF, spec.Refine); err != nil {
		return err
	}
	if spec.Dist != dcgan.Uniform && spec.Dist != dcgan.Normal {
		return fmt.Errorf("avatar: unknown latent distribution %d", spec.Dist)
	}
	return nil
}

// Save writes the generator alone, with the reference module's names and no prefix, so
// that Generator(size, z, gf).load_state_dict() of the PyTorch reference loads it. dtype
// is "F32" or "F16" (half the size; a converting loader is needed on the PyTorch side
// only for F16). The file is written atomically.
func (m *Model) Save(path, dtype string) error {
	return m.SaveContext(context.Background(), path, dtype)
}

// SaveContext is Save that stops writing once ctx is done, leaving no file behind.
func (m *Model) SaveContext(ctx context.Context, path, dtype string) error {
	spec, err := json.Marshal(m.spec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := state.Tensors("", m.g.Tensors(), dtype)
	meta := map[string]string{MetaFormat: FormatGenerator, MetaSpec: string(spec)}
	return atomicfile.WriteContext(ctx, path, func(w io.Writer) error {
		return checkpoint.Encode(w, ts, meta)
	})
}
