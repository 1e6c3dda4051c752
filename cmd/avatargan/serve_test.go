package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeAddress checks that serve prints the address it really listens on, only
// once it listens: with --addr :0 the port the system picked, and nothing at all
// when the port is taken.
func TestServeAddress(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cmdServe(ctx, stdio{out: &out, err: &errb}, []string{"--addr", "127.0.0.1:0"})
	}()
	re := regexp.MustCompile(`serving avatars on http://(127\.0\.0\.1:(\d+))/ .*immutable URLs under /m/(\w+)/`)
	var m []string
	deadline := time.Now().Add(30 * time.Second)
	for m == nil {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no address printed; stdout %q, stderr %q", out.String(), errb.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned %v; stdout %q", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		m = re.FindStringSubmatch(out.String())
	}
	if m[2] == "0" {
		t.Fatalf("printed port 0: %q", out.String())
	}
	// The printed address answers at once: it was bound before it was printed.
	resp, err := http.Get("http://" + m[1] + "/healthz")
	if err != nil {
		t.Fatalf("printed address does not answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hz struct{ Model string }
	if json.Unmarshal(b, &hz); hz.Model != m[3] {
		t.Errorf("healthz %s, printed version %s", b, m[3])
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}

	// A taken port: an error, and no "serving" line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o, stdout, _ := quiet()
	err = cmdServe(context.Background(), o, []string{"--addr", ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("taken port: %v", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("taken port printed %q", stdout)
	}
}

// TestServeFlagsBounded checks serve's flags: out-of-range values, NaN and
// infinities are refused with one line, before anything is allocated.
func TestServeFlagsBounded(t *testing.T) {
	for _, c := range []struct{ want, flag, val string }{
		{"--truncation NaN", "--truncation", "NaN"},
		{"--truncation +Inf", "--truncation", "Inf"},
		{"--truncation -Inf", "--truncation", "-Inf"},
		{"--truncation 0:", "--truncation", "0"},
		{"--truncation 2:", "--truncation", "2"},
		{"--queue 1099511627776", "--queue", "1099511627776"},
		{"--queue 0", "--queue", "0"},
		{"--max-batch 1000000000000", "--max-batch", "1000000000000"},
		{"--max-batch 0", "--max-batch", "0"},
		{"--batch-window 1h0m0s", "--batch-window", "1h"},
		{"--face-check 65", "--face-check", "65"},
		{"--face-check -1", "--face-check", "-1"},
	} {
		o, _, _ := quiet()
		// Not cancelled up front: the model's load honours Ctrl-C, and --queue is checked
		// after it. If a bad value were accepted, serve would stop at the deadline
		// (with a nil error, failing the case) instead of hanging the test.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cmdServe(ctx, o, []string{c.flag, c.val, "--addr", "127.0.0.1:0"})
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s: error %v, want one line mentioning %q", c.flag, c.val, err, c.want)
		}
	}
	fails(t, "want at most --queue", cmdServe, "--max-batch", "100", "--queue", "50")
}
