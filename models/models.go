// Package models holds the pretrained generator embedded in the avatargan binary, so
// avatars come with no data, no training and no download.
package models

import (
	_ "embed"
	"errors"
	"sync"

	"avatargan/avatar"
)

// defaultGenerator is a generator-only safetensors file (see avatar.Model.Save); how it
// was trained is in README.md ("The embedded model").
//
//go:embed generator.safetensors
var defaultGenerator []byte

// Name is what the tools print when they use the embedded model.
const Name = "embedded generator (models/generator.safetensors)"

var (
	once  sync.Once
	model *avatar.Model
	err   error
)

// Default returns the embedded generator, decoded once per process.
func Default() (*avatar.Model, error) {
	once.Do(func() {
		if len(defaultGenerator) == 0 {
			err = errors.New("this binary has no embedded generator; pass --checkpoint")
			return
		}
		model, err = avatar.Decode(defaultGenerator)
	})
	return model, err
}

// Bytes returns the embedded file.
func Bytes() []byte { return defaultGenerator }
