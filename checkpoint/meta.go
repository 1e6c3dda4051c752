package checkpoint

// Metadata keys and values of avatargan's safetensors files. They live here, in the
// file-format package, so the training run that writes them and the loaders that read
// them share one definition.
const (
	// MetaFormat tells a generator-only file (FormatGenerator) from a training
	// checkpoint (FormatTrain).
	MetaFormat = "format"
	// MetaSpec holds the generator's spec as JSON in generator files.
	MetaSpec = "spec"
	// MetaConfig holds the model configuration as JSON in training checkpoints.
	MetaConfig = "config"
	// MetaRun holds the whole run configuration as JSON in training checkpoints.
	MetaRun = "run"
	// MetaStep holds the step (iterations done) of a training checkpoint.
	MetaStep = "step"
	// MetaVersion holds the program version that wrote the file.
	MetaVersion = "version"
	// FormatGenerator and FormatTrain are the values of MetaFormat.
	FormatGenerator = "avatargan-generator"
	FormatTrain     = "avatargan-train"
)
