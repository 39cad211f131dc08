package retention_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup/retention"
)

func TestParseWithin(t *testing.T) {
	for _, tt := range []struct {
		in     string
		months int
		d      time.Duration
	}{
		{"36h", 0, 36 * time.Hour},
		{"7d", 0, 7 * 24 * time.Hour},
		{"2w", 0, 14 * 24 * time.Hour},
		{"1w3d12h", 0, (10*24 + 12) * time.Hour},
		{"2m", 2, 0}, // months, as restic reads it, not minutes
		{"90m", 90, 0},
		{"1y", 12, 0},
		{"1y2m3d4h", 14, (3*24 + 4) * time.Hour},
	} {
		months, d, err := retention.ParseWithin(tt.in)
		if err != nil || months != tt.months || d != tt.d {
			t.Errorf("ParseWithin(%q)=%d, %v, %v; want %d, %v", tt.in, months, d, err, tt.months, tt.d)
		}
	}
	for _, in := range []string{"", "0", "0d", "d", "7x", "-3h", "3d-4h2", "1h30m", "30s", "5min",
		"1.5h", "3d2d", "1d1y", "2M", "7", "9999999d"} {
		if _, _, err := retention.ParseWithin(in); err == nil {
			t.Errorf("ParseWithin(%q) accepted", in)
		} else if !strings.Contains(err.Error(), "m means months") {
			t.Errorf("ParseWithin(%q): %v; want the message to say what m means", in, err)
		}
	}
}

// TestWithinStrict checks the cutoff is strict and calendar months are
// calendar months: a backup exactly 30 days (or 2 months) before the
// newest is removed, one a minute later is kept.
func TestWithinStrict(t *testing.T) {
	newest := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	at := func(tm time.Time, name string) retention.Item { return retention.Item{Name: name, Time: tm} }
	for _, tt := range []struct {
		name    string
		p       retention.Policy
		cutoff  time.Time
		wantStr string
	}{
		{"Days", retention.Policy{Within: 30 * 24 * time.Hour}, newest.Add(-30 * 24 * time.Hour), "720h0m0s"},
		// 2026-03-31 minus two months is 2026-01-31.
		{"Months", retention.Policy{WithinMonths: 2}, time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), "2 months"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			items := []retention.Item{
				at(newest, "c"),
				at(tt.cutoff.Add(time.Minute), "b"),
				at(tt.cutoff, "a"),
			}
			ds := retention.Apply(items, tt.p, time.Time{})
			if got, want := len(ds), 3; got != want {
				t.Fatalf("%d decisions, want %d", got, want)
			}
			if !ds[1].Keep || ds[2].Keep {
				t.Fatalf("kept b=%v a=%v; want b kept and a (exactly at the cutoff) removed", ds[1].Keep, ds[2].Keep)
			}
			if !strings.Contains(tt.p.String(), tt.wantStr) {
				t.Errorf("String()=%q, want it to contain %q", tt.p.String(), tt.wantStr)
			}
		})
	}
}
