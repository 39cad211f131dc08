package reliability_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Outcomes of the trials, written to the file named by
// BITNOBI_RELIABILITY_REPORT (if set) for docs/reliability.md.
var (
	reportMu sync.Mutex
	report   []string
)

// record notes a fault's trials and outcome; with
// BITNOBI_RELIABILITY_REPORT set, it appends a Markdown table row to
// that file.
func record(t testing.TB, fault string, trials int, outcome string) {
	t.Helper()
	line := fmt.Sprintf("| %s | %d (%s profile) | %s |", fault, trials, prof.Name, outcome)
	t.Log(line)
	reportMu.Lock()
	defer reportMu.Unlock()
	report = append(report, line)
	if p := os.Getenv("BITNOBI_RELIABILITY_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}
