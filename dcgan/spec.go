package dcgan

// Spec describes a generator's shape: what a generator-only file records in its
// metadata so that it can be loaded without the training configuration. It lives here,
// below the training run that writes such files and the loaders that read them, so
// both share one definition.
type Spec struct {
	Size int `json:"size"`
	ZDim int `json:"zdim"`
	GF   int `json:"gf"`
	// Refine is the width of the refinement head (see Generator; 0: none).
	Refine int  `json:"refine,omitempty"`
	Dist   Dist `json:"dist"`
}

// Spec returns the spec of the generator that c configures.
func (c Config) Spec() Spec {
	return Spec{Size: c.Size, ZDim: c.ZDim, GF: c.GF, Refine: c.Refine, Dist: c.Dist}
}
