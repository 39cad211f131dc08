package retention_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup/retention"
)

// resticBinary returns the restic program the differential test runs:
// $BITNOBI_TEST_RESTIC, else restic on the PATH. Without one the test
// skips, unless BITNOBI_TEST_RESTIC_REQUIRED=1 (scripts/with-restic.sh
// sets it, as CI does), where a missing restic is a failure.
func resticBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("BITNOBI_TEST_RESTIC")
	if bin == "" {
		bin, _ = exec.LookPath("restic")
	}
	if bin == "" {
		if os.Getenv("BITNOBI_TEST_RESTIC_REQUIRED") == "1" {
			t.Fatal("restic not found, and BITNOBI_TEST_RESTIC_REQUIRED=1: install it (apt-get install restic) or run bash scripts/with-restic.sh")
		}
		t.Skip("restic not found (set BITNOBI_TEST_RESTIC or run bash scripts/with-restic.sh)")
	}
	return bin
}

// TestAgainstRestic makes a restic repository with one snapshot at each
// of several dozen synthetic times and checks, for a set of policies,
// that "restic forget --dry-run" and Apply keep the same snapshots. It
// is what lets the prune help say "the rules are restic's".
func TestAgainstRestic(t *testing.T) {
	bin := resticBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "TZ=UTC", "RESTIC_PASSWORD=bitnobi-test",
		"RESTIC_REPOSITORY="+filepath.Join(dir, "repo"), "RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"))
	restic := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	version := resticVersion(t, string(restic("version")))

	// The synthetic backups, one per distinct time (restic orders equal
	// times arbitrarily), plus backups exactly at the --keep-within cutoffs
	// tested below and a minute inside them.
	newest := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	seen := map[time.Time]bool{}
	var items []retention.Item
	add := func(tm time.Time) {
		tm = tm.UTC().Truncate(time.Second)
		if !seen[tm] {
			seen[tm] = true
			items = append(items, retention.Item{Name: tm.Format(time.RFC3339), Time: tm})
		}
	}
	for _, it := range synthetic(t) {
		add(it.Time)
	}
	for _, cut := range []time.Time{
		newest.Add(-30 * 24 * time.Hour),                       // 30d
		newest.AddDate(0, -2, 0),                               // 2m
		newest.AddDate(0, -14, 0).Add(-(3*24 + 4) * time.Hour), // 1y2m3d4h
		newest.Add(-36 * time.Hour),                            // 36h
	} {
		add(cut)
		add(cut.Add(time.Minute))
	}
	if len(items) < 40 {
		t.Fatalf("only %d distinct times", len(items))
	}

	restic("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Four at a time: restic's backups share the repository.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(items))
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(bin, "backup", "-q", "--host", "h", "--time", it.Time.Format("2006-01-02 15:04:05"), "f")
			cmd.Env, cmd.Dir = env, dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("restic backup at %v: %v\n%s", it.Time, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		args []string
		p    retention.Policy
	}{
		{[]string{"--keep-last", "5"}, retention.Policy{Last: 5}},
		{[]string{"--keep-hourly", "6"}, retention.Policy{Hourly: 6}},
		{[]string{"--keep-daily", "7"}, retention.Policy{Daily: 7}},
		{[]string{"--keep-weekly", "5"}, retention.Policy{Weekly: 5}},
		{[]string{"--keep-monthly", "12"}, retention.Policy{Monthly: 12}},
		{[]string{"--keep-yearly", "2"}, retention.Policy{Yearly: 2}},
		{[]string{"--keep-daily", "3", "--keep-weekly", "2", "--keep-monthly", "4", "--keep-yearly", "1"},
			retention.Policy{Daily: 3, Weekly: 2, Monthly: 4, Yearly: 1}},
		{[]string{"--keep-within", "30d"}, mustWithin(t, "30d")},
		{[]string{"--keep-within", "36h"}, mustWithin(t, "36h")},
		{[]string{"--keep-within", "2m"}, mustWithin(t, "2m")},
		{[]string{"--keep-within", "1y2m3d4h"}, mustWithin(t, "1y2m3d4h")},
		{[]string{"--keep-last", "2", "--keep-within", "36h", "--keep-monthly", "3"},
			func() retention.Policy { p := mustWithin(t, "36h"); p.Last, p.Monthly = 2, 3; return p }()},
		// More buckets asked for than there are: restic 0.16 and later keep
		// the oldest too, Apply does not (see Apply's documentation).
		{[]string{"--keep-yearly", "10"}, retention.Policy{Yearly: 10}},
		{[]string{"--keep-last", "100"}, retention.Policy{Last: 100}},
	} {
		name := strings.Join(tt.args, " ")
		t.Run(name, func(t *testing.T) {
			var groups []struct {
				Keep []struct {
					Time time.Time `json:"time"`
				} `json:"keep"`
			}
			if err := json.Unmarshal(restic(append([]string{"forget", "--dry-run", "--json"}, tt.args...)...), &groups); err != nil {
				t.Fatal(err)
			}
			if len(groups) != 1 {
				t.Fatalf("restic returned %d groups, want 1", len(groups))
			}
			var want []string
			for _, k := range groups[0].Keep {
				want = append(want, k.Time.UTC().Format(time.RFC3339))
			}
			var got []string
			ds := retention.Apply(items, tt.p, time.Time{})
			for _, d := range ds {
				if d.Keep {
					got = append(got, d.Item.Name)
				}
			}
			oldest := ds[len(ds)-1].Item.Name
			if version >= 16 && !slices.Contains(got, oldest) && slices.Contains(want, oldest) && underfilled(ds, tt.p) {
				got = append(got, oldest) // the documented difference
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("restic 0.%d keeps %d snapshots, Apply %d\nrestic: %v\nApply:  %v", version, len(want), len(got), want, got)
			}
		})
	}
}

func mustWithin(t *testing.T, s string) retention.Policy {
	t.Helper()
	months, d, err := retention.ParseWithin(s)
	if err != nil {
		t.Fatal(err)
	}
	return retention.Policy{WithinMonths: months, Within: d}
}

// underfilled reports whether some count rule of p asks for more than the
// decisions' items fill, which is when restic 0.16 keeps the oldest.
func underfilled(ds []retention.Decision, p retention.Policy) bool {
	keys := []func(time.Time) string{
		func(tm time.Time) string { return tm.Format("2006010215") },
		func(tm time.Time) string { return tm.Format("20060102") },
		func(tm time.Time) string { y, w := tm.ISOWeek(); return fmt.Sprint(y, w) },
		func(tm time.Time) string { return tm.Format("200601") },
		func(tm time.Time) string { return tm.Format("2006") },
	}
	if p.Last > len(ds) {
		return true
	}
	for i, n := range []int{p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		buckets := map[string]bool{}
		for _, d := range ds {
			buckets[keys[i](d.Item.Time.UTC())] = true
		}
		if n > len(buckets) {
			return true
		}
	}
	return false
}

// resticVersion returns the minor version of "restic 0.14.0 compiled ...".
func resticVersion(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`restic 0\.(\d+)\.`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("restic version: cannot read %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
