package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadRecords: metrics.jsonl is appended a line per step, so a crash or a full
// disk can leave any bytes at its end, and resume reads it back. Whatever it holds,
// reading returns without panicking, keeps only records with a step in 1..maxStep, and
// a line longer than a record can be (garbage) is skipped, not read whole.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(`{"step":1,"d_loss":1.5}`+"\n"+`{"step":2,"swd":3.5}`+"\n"+`{"step":3,"sw`), 2)
	f.Add([]byte("\n\n{}\n"+`{"step":-1}`+"\n"), 5)
	f.Add([]byte(strings.Repeat("x", maxRecordLine+10)+"\n"+`{"step":1}`), 1)
	f.Fuzz(func(t *testing.T, b []byte, maxStep int) {
		p := filepath.Join(t.TempDir(), MetricsFile)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		recs, bad, err := readRecords(p, maxStep)
		if err != nil {
			t.Fatalf("error %v on a readable file", err)
		}
		if bad < 0 || bad > strings.Count(string(b), "\n")+1 {
			t.Fatalf("%d bad lines in %d lines", bad, strings.Count(string(b), "\n")+1)
		}
		for _, r := range recs {
			if r.Step < 1 || r.Step > maxStep {
				t.Fatalf("record of step %d kept (maxStep %d)", r.Step, maxStep)
			}
		}
	})
}
