package nn

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"avatargan/internal/testutil"
)

// TestGoldenScript checks that scripts/golden.py, the generator of the layer, loss, Adam
// and tiny-DCGAN values, reproduces every stored PyTorch float64 output from the stored
// inputs, and that scripts/golden_recipe.py, golden_diffaugment.py, golden_specreg.py, golden_spectrum.py,
// golden_patchswd.py, golden_refine.py and golden_conv3.py write exactly the committed files, so every value the numeric tests trust can be
// regenerated and audited. It needs Python with PyTorch (Debian's python3-torch).
func TestGoldenScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch; skipped with -short")
	}
	py := ""
	for _, c := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import torch").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		testutil.SkipOrFail(t, "no python3 with PyTorch (Debian: apt-get install python3-torch)")
	}
	root := testutil.ModuleRoot(t)
	out, err := exec.Command(py, filepath.Join(root, "scripts", "golden.py")).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/golden.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)

	// The generators of the recipe and DiffAugment values write their files afresh
	// from fixed seeds: run them in a scratch tree and require the committed bytes.
	tmp := t.TempDir()
	for _, d := range []string{"scripts", filepath.Join("nn", "testdata"), filepath.Join("dcgan", "testdata")} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// golden_refine.py imports the generator of python/avatargan_torch.
	if err := os.CopyFS(filepath.Join(tmp, "python", "avatargan_torch"), os.DirFS(filepath.Join(root, "python", "avatargan_torch"))); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"golden_recipe.py", "golden_diffaugment.py", "golden_specreg.py", "golden_spectrum.py", "golden_patchswd.py", "golden_refine.py", "golden_conv3.py"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", script))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "scripts", script), b, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, filepath.Join("scripts", script))
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/%s: %v\n%s", script, err, out)
		}
	}
	// Every committed golden file comes from golden.py (checked above) or from one of
	// these generators, and each of the generators' files must be written afresh.
	fromGolden := []string{"activations", "adam", "batchnorm2d", "bce_with_logits", "conv2d_even",
		"conv2d_odd", "conv_transpose2d_3", "conv_transpose2d_4", "linear", "dcgan_tiny"}
	fromScripts := map[string][]string{
		filepath.Join("nn", "testdata"): {"hinge", "spectral_norm_conv", "spectral_norm_linear",
			"diffaugment_7x7", "diffaugment_8x8", "diffaugment_9x12", "spectral_reg",
			"spectrum_loss", "patch_swd", "conv2d_k3s1"},
		filepath.Join("dcgan", "testdata"): {"sngan_tiny", "r1_tiny", "refine_tiny"},
	}
	for d, names := range fromScripts {
		want := map[string]bool{}
		for _, name := range names {
			want[name+".json"] = true
			got, err := os.ReadFile(filepath.Join(tmp, d, name+".json"))
			if err != nil {
				t.Errorf("%s: not written by its generator: %v", filepath.Join(d, name+".json"), err)
				continue
			}
			if committed, err := os.ReadFile(filepath.Join(root, d, name+".json")); err != nil || !bytes.Equal(got, committed) {
				t.Errorf("%s: the committed file is not what its generator writes (%v)", filepath.Join(d, name+".json"), err)
			}
		}
		for _, name := range fromGolden {
			want[name+".json"] = true
		}
		ents, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !want[e.Name()] {
				t.Errorf("%s: a committed golden file that no generator in this test covers", filepath.Join(d, e.Name()))
			}
		}
	}
}
