package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSummarizeKind checks -kind: bench/run.sh compares the audited
// writes' latency between two builds from the same samples file.
func TestSummarizeKind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.tsv")
	// start ns, latency ns, status, operation
	samples := "" +
		"100\t1000000\t200\tlist-policies\n" +
		"200\t2000000\t201\tcreate-policy\n" +
		"300\t3000000\t200\tupdate-policy\n" +
		"400\t9000000\t200\tme\n" +
		"500\t4000000\t500\tupload-csv\n"
	if err := os.WriteFile(path, []byte(samples), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, want string
	}{
		{"all", "requests=5 errors=1 dropped=0 p50_ms=3.00 p90_ms=9.00 p99_ms=9.00 max_ms=9.00"},
		{"writes", "requests=3 errors=1 dropped=0 p50_ms=3.00 p90_ms=4.00 p99_ms=4.00 max_ms=4.00"},
		{"reads", "requests=2 errors=0 dropped=0 p50_ms=1.00 p90_ms=9.00 p99_ms=9.00 max_ms=9.00"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			var out bytes.Buffer
			if err := run([]string{"-summarize", path, "-kind", tc.kind}, &out); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out.String()); got != tc.want {
				t.Fatalf("-kind %s:\n got %s\nwant %s", tc.kind, got, tc.want)
			}
		})
	}
	t.Run("ErrUnknownKind", func(t *testing.T) {
		err := run([]string{"-summarize", path, "-kind", "deletes"}, new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "want all, reads or writes") {
			t.Fatalf("err = %v", err)
		}
	})
}
