// Package state moves a model's live tensors (nn.NamedTensor) to and from safetensors
// files (package checkpoint), so that neither of those packages needs the other.
package state

import (
	"fmt"
	"slices"
	"strings"

	"avatargan/checkpoint"
	"avatargan/nn"
)

// Tensors converts live model state to tensors for Encode: float data as dtype (F32 or
// F16), counters as I64 scalars. The float tensors alias the model's data.
func Tensors(prefix string, nts []nn.NamedTensor, dtype string) []checkpoint.Tensor {
	out := make([]checkpoint.Tensor, 0, len(nts))
	for _, nt := range nts {
		if nt.Count != nil {
			out = append(out, checkpoint.I64Tensor(prefix+nt.Name, nt.Shape, []int64{*nt.Count}))
			continue
		}
		out = append(out, checkpoint.Tensor{Name: prefix + nt.Name, DType: dtype, Shape: nt.Shape, F32: nt.Data})
	}
	return out
}

// Load copies the tensors named prefix+nt.Name from f into the live state nts,
// checking every shape, so a checkpoint of another configuration is refused with a clear
// error instead of being half loaded. With optional, missing tensors are skipped;
// otherwise they are an error.
func Load(f *checkpoint.File, prefix string, nts []nn.NamedTensor, optional bool) error {
	for _, nt := range nts {
		t, ok := f.Get(prefix + nt.Name)
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("checkpoint: missing tensor %q", prefix+nt.Name)
		}
		if !slices.Equal(t.Shape, nt.Shape) && !(len(nt.Shape) == 0 && t.NumElements() == 1) {
			return fmt.Errorf("checkpoint: tensor %q has shape %v, the model needs %v", t.Name, t.Shape, nt.Shape)
		}
		if nt.Count != nil {
			v, err := t.Int64s()
			if err != nil || len(v) != 1 {
				return fmt.Errorf("checkpoint: tensor %q: want one int64 count", t.Name)
			}
			*nt.Count = v[0]
			continue
		}
		if t.F32 == nil {
			return fmt.Errorf("checkpoint: tensor %q has dtype %s, want a float type", t.Name, t.DType)
		}
		copy(nt.Data, t.F32)
	}
	return nil
}

// LoadAll is Load (nothing optional) that also refuses a file holding a tensor under
// prefix that nts lacks: a generator file of a newer or other architecture (say, with
// a refinement head) must not load as a model that silently drops a layer.
func LoadAll(f *checkpoint.File, prefix string, nts []nn.NamedTensor) error {
	if err := Load(f, prefix, nts, false); err != nil {
		return err
	}
	want := make(map[string]bool, len(nts))
	for _, nt := range nts {
		want[prefix+nt.Name] = true
	}
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, prefix) && !want[t.Name] {
			return fmt.Errorf("checkpoint: tensor %q is not part of this model (a file of another architecture, or of a newer avatargan?)", t.Name)
		}
	}
	return nil
}
