package train

import (
	"fmt"
	"math"
)

// Upper bounds of the run settings, far above any real run and low enough that
// derived numbers (total steps, file counts) cannot overflow.
const (
	MaxEpochs = 1_000_000
	MaxKeep   = 10_000
)

// Validate reports the first setting of c out of range, in one line: the model's (see
// dcgan.Config.Validate, which also bounds the memory a run needs) and the run's.
func (c Config) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	switch {
	case c.Epochs < 1 || c.Epochs > MaxEpochs:
		return fmt.Errorf("train: epochs %d not in [1, %d]", c.Epochs, MaxEpochs)
	case c.SampleEvery < 1 || c.CheckpointEvery < 1:
		return fmt.Errorf("train: sample-every %d and checkpoint-every %d must be at least 1", c.SampleEvery, c.CheckpointEvery)
	case c.Keep < 1 || c.Keep > MaxKeep:
		return fmt.Errorf("train: keep %d not in [1, %d]", c.Keep, MaxKeep)
	case c.KeepEvery < 0 || c.KeepEvery%c.CheckpointEvery != 0:
		return fmt.Errorf("train: keep-every %d must be 0 (off) or a positive multiple of checkpoint-every %d (checkpoints are written only there)", c.KeepEvery, c.CheckpointEvery)
	case !(c.EMA >= 0 && c.EMA < 1) || math.IsNaN(c.EMA):
		return fmt.Errorf("train: ema %v not in [0, 1)", c.EMA)
	case c.LRDecay != "" && c.LRDecay != "none" && c.LRDecay != LRDecayLinear:
		return fmt.Errorf("train: lr-decay %q: want none or linear", c.LRDecay)
	case c.LRDecayStart < 0:
		return fmt.Errorf("train: lr-decay start %d is negative", c.LRDecayStart)
	case c.LRWarmupG < 0 || c.LRWarmupG > MaxEpochs:
		return fmt.Errorf("train: lr-warmup-g %d not in [0, %d]", c.LRWarmupG, MaxEpochs)
	}
	return nil
}
