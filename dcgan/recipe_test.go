package dcgan

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"avatargan/internal/testutil"
)

func snganTiny(t *testing.T) map[string]goldenTensor {
	t.Helper()
	return testutil.LoadGolden(t, "testdata/sngan_tiny.json")
}

func newSNGANTiny(t *testing.T) (*Trainer, map[string]goldenTensor) {
	t.Helper()
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	g := snganTiny(t)
	load(t, g, "G.", tr.G.Tensors())
	load(t, g, "D.", tr.D.Tensors())
	return tr, g
}

// TestSNGANTinyGolden checks the sngan recipe's D step grads (hinge loss through a
// spectral-normed D without BatchNorm, real and fake passes each with its own power
// iteration), the losses of a full iteration, and the state after it (weights, and the
// u, v vectors moved by D's three training forwards) against PyTorch float64
// (scripts/golden_recipe.py). The loading also checks the state_dict names: a missing
// or extra name fails.
func TestSNGANTinyGolden(t *testing.T) {
	tr, g := newSNGANTiny(t)
	z, real := f32(g["z"].Data), f32(g["real"].Data)
	lossD, _, _ := tr.discriminatorGrads(realCNHW(tr, real, 4), z, 4)
	checkClose(t, "lossD", []float32{float32(lossD)}, g["losses_iteration"].Data[:1], 1e-5)
	for _, p := range tr.D.Params() {
		if p.Buffer {
			continue
		}
		want := g["gradD0."+p.Name].Data
		for i, w := range want {
			if d := math.Abs(float64(p.Grad[i]) - w); d > 1e-6+1e-4*math.Abs(w) {
				t.Errorf("gradD0.%s[%d] = %g, want %g", p.Name, i, p.Grad[i], w)
				break
			}
		}
	}

	tr, g = newSNGANTiny(t)
	st, err := tr.Step(real, z)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "losses_iteration", []float32{float32(st.Losses[0]), float32(st.Losses[1])}, g["losses_iteration"].Data, 1e-5)
	// Adam's first step moves each weight by lr*sign(grad) (up to eps): compare the
	// displacement with a tolerance of a small fraction of lr, except where the
	// golden grad is ~0 and the sign is rounding noise.
	for _, set := range []struct {
		pre string
		lr  float64
	}{{"G.", 1e-4}, {"D.", 4e-4}} {
		var ts = tr.G.Tensors()
		if set.pre == "D." {
			ts = tr.D.Tensors()
		}
		for _, x := range ts {
			name := set.pre + x.Name
			want := g["after."+name].Data
			if x.Count != nil {
				if float64(*x.Count) != want[0] {
					t.Errorf("%s = %d, want %v", name, *x.Count, want[0])
				}
				continue
			}
			tol := 1e-3 * set.lr
			if strings.Contains(name, "running_") || strings.HasSuffix(name, "_u") || strings.HasSuffix(name, "_v") {
				tol = 1e-5
			}
			before := g[name].Data
			bad := 0
			for i, w := range want {
				e := math.Abs((float64(x.Data[i]) - before[i]) - (w - before[i]))
				// A golden displacement << lr means a grad << Adam's eps (a bias before
				// BatchNorm, whose grad is zero up to rounding): float32 rounding noise
				// then moves it by up to lr.
				if math.Abs(w-before[i]) < 1e-2*set.lr && !strings.HasSuffix(name, "_u") && !strings.HasSuffix(name, "_v") {
					if e > 1.01*set.lr {
						bad++
					}
					continue
				}
				if e > tol+1e-5*math.Abs(w) {
					bad++
				}
			}
			// A handful of near-zero grads may flip sign in float32 (moving by 2 lr).
			if bad > len(want)/100 {
				t.Errorf("%s: %d/%d elements off", name, bad, len(want))
			}
		}
	}
}

// TestConfigJSON checks the snake_case, enum-name JSON of Config, its round trip, and
// that a configuration written before the recipe options (Go field names, numeric
// dist, no D betas) still decodes to what it meant.
func TestConfigJSON(t *testing.T) {
	c, err := Recipe("sngan-da", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"lr_g":0.0001`, `"g_steps":1`, `"loss":"hinge"`, `"d_norm":"none"`, `"dist":"uniform"`,
		`"spectral_norm":true`, `"beta2_d":0.9`, `"augment":"color,translation,cutout"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %+v, %v; want %+v", back, err, c)
	}
	old := `{"Size":48,"ZDim":100,"GF":64,"DF":64,"Batch":64,"LRG":0.0002,"LRD":0.0003,"Beta1":0.5,"Beta2":0.999,"GSteps":2,"Dist":1,"Seed":1}`
	var o Config
	if err := json.Unmarshal([]byte(old), &o); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.LRD, want.Dist = 3e-4, Normal
	if !reflect.DeepEqual(o, want) {
		t.Errorf("legacy config decoded to %+v, want %+v", o, want)
	}
	for _, bad := range []string{`{"loss":"l2"}`, `{"d_norm":"layer"}`, `{"dist":7}`} {
		if json.Unmarshal([]byte(bad), &o) == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// TestRecipes checks that "original" is exactly DefaultConfig, that every recipe
// validates and keeps the sizes it was given, and that unknown names are refused.
func TestRecipes(t *testing.T) {
	base := DefaultConfig()
	base.Size, base.Batch, base.Seed = 64, 32, 9
	for _, name := range Recipes() {
		c, err := Recipe(name, base)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if c.Size != 64 || c.Batch != 32 || c.Seed != 9 {
			t.Errorf("%s changed the sizes: %+v", name, c)
		}
	}
	if c, _ := Recipe("original", base); !reflect.DeepEqual(c, base) {
		t.Errorf("original = %+v, want %+v", c, base)
	}
	if c, _ := Recipe("sngan", base); c.Loss != Hinge || !c.SpectralNorm || c.DNorm != DNoNorm || c.GSteps != 1 || c.Beta1D != 0 {
		t.Errorf("sngan = %+v", c)
	}
	if _, err := Recipe("stylegan", base); err == nil {
		t.Error("unknown recipe accepted")
	}
}

// TestSpectralNormTensors checks the names a spectral-normed D checkpoints (PyTorch's
// state_dict of spectral_norm modules) and that without BatchNorm there are no bn*
// tensors.
func TestSpectralNormTensors(t *testing.T) {
	d := NewDiscriminatorWith(16, 4, DOptions{SpectralNorm: true, Norm: DNoNorm})
	var names []string
	for _, x := range d.Tensors() {
		names = append(names, x.Name)
	}
	want := []string{}
	for _, l := range []string{"conv0", "conv1", "conv2", "conv3", "fc"} {
		want = append(want, l+".weight_orig", l+".weight_u", l+".weight_v", l+".bias")
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("tensors %v, want %v", names, want)
	}
	var trainable []string
	for _, p := range d.Params() {
		if !p.Buffer {
			trainable = append(trainable, p.Name)
		}
	}
	if len(trainable) != 10 || trainable[0] != "conv0.weight_orig" {
		t.Errorf("trainable %v", trainable)
	}
}

// TestAugmentReachesGenerator checks that with DiffAugment the G step backpropagates
// through the augmentation: G's grads differ from those without it, and are finite and
// nonzero; and that the same iteration index draws the same augmentation.
func TestAugmentReachesGenerator(t *testing.T) {
	grads := func(aug string) []float32 {
		c, _ := Recipe("sngan", tinyConfig())
		c.Augment = aug
		tr, err := NewTrainer(c)
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float32, 4*c.ZDim)
		for i := range z {
			z[i] = float32(i%7)/7 - 0.4
		}
		tr.generatorGrads(z, 4, 0)
		return append([]float32(nil), tr.G.Params()[0].Grad...)
	}
	plain, a1, a2 := grads(""), grads("color,translation,cutout"), grads("color,translation,cutout")
	same, nonzero := true, false
	for i := range plain {
		if a1[i] != a2[i] {
			t.Fatal("the same iteration drew different augmentations")
		}
		if v := float64(a1[i]); math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatal("non-finite grad")
		}
		same = same && a1[i] == plain[i]
		nonzero = nonzero || a1[i] != 0
	}
	if same || !nonzero {
		t.Errorf("augmented G grads: same as plain %v, nonzero %v", same, nonzero)
	}
}
