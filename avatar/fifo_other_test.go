//go:build !unix

package avatar_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs on this system") }
