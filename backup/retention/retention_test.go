package retention_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup/retention"
	"github.com/bitnobi/bitnobi/internal/testutil"
)

// item returns an Item named like a backup directory made at the UTC time
// s ("2006-01-02 15:04"), with an optional collision suffix.
func item(tb testing.TB, s string, suffix string) retention.Item {
	tb.Helper()
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		tb.Fatal(err)
	}
	return retention.Item{Name: "backup-" + t.Format("20060102_1504") + suffix, Time: t}
}

// synthetic returns 40 backups spread over two and a half years, densest
// near the newest (2026-11-25 18:00 UTC), in no particular order. It
// includes two backups in one hour, a collision suffix, an ISO week that
// straddles a new year and a backup in a non-UTC location.
func synthetic(tb testing.TB) []retention.Item {
	tb.Helper()
	var items []retention.Item
	for _, s := range []string{
		// The newest day, several per hour or every few hours.
		"2026-11-25 18:00", "2026-11-25 14:30", "2026-11-25 14:00",
		"2026-11-25 12:00", "2026-11-25 06:00", "2026-11-25 00:00",
		// Nightly for ten days.
		"2026-11-24 02:00", "2026-11-23 02:00", "2026-11-22 02:00",
		"2026-11-21 02:00", "2026-11-20 02:00", "2026-11-19 02:00",
		"2026-11-18 02:00", "2026-11-17 02:00", "2026-11-16 02:00",
		"2026-11-15 02:00",
		// Sundays before that.
		"2026-11-08 03:00", "2026-11-01 03:00", "2026-10-25 03:00",
		"2026-10-18 03:00", "2026-10-11 03:00", "2026-10-04 03:00",
		// Monthly.
		"2026-09-15 04:00", "2026-09-01 04:00", "2026-08-01 04:00",
		"2026-07-01 04:00", "2026-06-01 04:00", "2026-05-01 04:00",
		"2026-04-01 04:00", "2026-03-01 04:00", "2026-02-01 04:00",
		"2026-01-01 04:00",
		// Older, sparse. 2024-12-31 is in ISO week 2025-W01.
		"2025-12-28 05:00", "2025-07-04 05:00", "2025-03-10 05:00",
		"2025-01-01 00:00", "2024-12-31 23:59", "2024-06-30 05:00",
	} {
		items = append(items, item(tb, s, ""))
	}
	// A second backup started in the same minute gets a suffix.
	items = append(items, item(tb, "2026-11-24 02:00", "-1"))
	// Times in another location are bucketed in UTC: this is 2026-11-14
	// 23:30 UTC, though it is already the 15th in Tokyo.
	tokyo := time.FixedZone("JST", 9*3600)
	items = append(items, retention.Item{
		Name: "backup-20261114_2330",
		Time: time.Date(2026, 11, 15, 8, 30, 0, 0, tokyo),
	})
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items
}

// format renders decisions as the golden files hold them: one line per
// item, "KEEP name reasons" or "REMOVE name".
func format(ds []retention.Decision) []byte {
	var b bytes.Buffer
	for _, d := range ds {
		if d.Keep {
			fmt.Fprintf(&b, "KEEP %s %s\n", d.Item.Name, strings.Join(d.Reasons, ", "))
		} else {
			fmt.Fprintf(&b, "REMOVE %s\n", d.Item.Name)
		}
	}
	return b.Bytes()
}

func TestApply(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		items  []retention.Item
		policy retention.Policy
	}{
		{"keep-last", synthetic(t), retention.Policy{Last: 5}},
		{"daily", synthetic(t), retention.Policy{Daily: 7}},
		{"hourly", synthetic(t), retention.Policy{Hourly: 4}},
		{"weekly-monthly", synthetic(t), retention.Policy{Weekly: 4, Monthly: 6}},
		{"yearly", synthetic(t), retention.Policy{Yearly: 10}},
		{"within", synthetic(t), retention.Policy{Within: 72 * time.Hour}},
		// 64h before the newest is exactly 2026-11-23 02:00: kept.
		{"within-boundary", synthetic(t), retention.Policy{Within: 64 * time.Hour}},
		{"combined", synthetic(t), retention.Policy{Last: 3, Hourly: 2, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3, Within: 36 * time.Hour}},
		{"more-than-available", synthetic(t), retention.Policy{Last: 100, Daily: 100}},
		{"empty-policy", synthetic(t), retention.Policy{}},
		{"single-item", []retention.Item{item(t, "2026-11-25 18:00", "")}, retention.Policy{Daily: 7}},
		{"identical-times", []retention.Item{
			item(t, "2026-11-25 18:00", "-1"),
			item(t, "2026-11-25 18:00", ""),
			item(t, "2026-11-25 18:00", "-2"),
			item(t, "2026-11-24 18:00", ""),
			item(t, "2026-11-24 18:00", "-1"),
		}, retention.Policy{Last: 2, Daily: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := format(retention.Apply(tt.items, tt.policy, now))
			golden := filepath.Join("testdata", tt.name+".golden")
			if *testutil.Update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Apply(%v) differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", tt.policy, golden, got, want)
			}
		})
	}
}

func TestApply_Empty(t *testing.T) {
	if got := retention.Apply(nil, retention.Policy{Last: 1}, time.Now()); len(got) != 0 {
		t.Fatalf("Apply(nil)=%v, want none", got)
	}
}

// TestApply_Order checks that the result depends only on the set of
// items, not on their order, and that the input is left alone.
func TestApply_Order(t *testing.T) {
	items := synthetic(t)
	p := retention.Policy{Last: 2, Daily: 3, Weekly: 2, Within: 30 * time.Hour}
	want := format(retention.Apply(items, p, time.Time{}))
	for i := range 20 {
		shuffled := slices.Clone(items)
		rand.New(rand.NewPCG(uint64(i), 7)).Shuffle(len(shuffled), func(i, j int) {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		})
		before := slices.Clone(shuffled)
		if got := format(retention.Apply(shuffled, p, time.Time{})); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d:\n%s\nwant:\n%s", i, got, want)
		}
		if !slices.Equal(shuffled, before) {
			t.Fatalf("shuffle %d: Apply modified its input", i)
		}
	}
}

// TestApply_FutureClock checks that a backup with a clock far in the
// future neither escapes the newest-item rule nor pushes the others out
// of the Within window.
func TestApply_FutureClock(t *testing.T) {
	now := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	items := []retention.Item{
		item(t, "2036-01-01 00:00", ""),
		item(t, "2026-11-25 18:00", ""),
		item(t, "2026-11-25 06:00", ""),
		item(t, "2026-11-20 06:00", ""),
	}
	for _, tt := range []struct {
		name string
		now  time.Time
		want []bool
	}{
		{"Now", now, []bool{true, true, true, false}},
		{"ZeroNow", time.Time{}, []bool{true, false, false, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds := retention.Apply(items, retention.Policy{Within: 24 * time.Hour}, tt.now)
			var got []bool
			for _, d := range ds {
				got = append(got, d.Keep)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Keep=%v, want %v\n%s", got, tt.want, format(ds))
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	for _, tt := range []struct {
		name      string
		p         retention.Policy
		wantEmpty bool
		wantStr   string
	}{
		{"Zero", retention.Policy{}, true, "keep only the newest backup"},
		{"Negative", retention.Policy{Last: -1, Within: -time.Hour}, true, "keep only the newest backup"},
		{"Last", retention.Policy{Last: 3}, false, "keep the last 3 backups"},
		{"Within", retention.Policy{Within: 72 * time.Hour}, false, "keep all within 72h0m0s of the newest"},
		{"All", retention.Policy{Last: 3, Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 5, Within: time.Hour},
			false, "keep the last 3, 24 hourly, 7 daily, 4 weekly, 12 monthly, 5 yearly backups and all within 1h0m0s of the newest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.p.Empty(), tt.wantEmpty; got != want {
				t.Errorf("Empty()=%v, want %v", got, want)
			}
			if got, want := tt.p.String(), tt.wantStr; got != want {
				t.Errorf("String()=%q, want %q", got, want)
			}
		})
	}
}

// FuzzApply checks the invariants of Apply on arbitrary inputs: one
// decision per item, newest first, the newest always kept, reasons exactly
// on kept items, and no rule keeping more than its count.
func FuzzApply(f *testing.F) {
	f.Add([]byte{1, 2, 3, 200, 7, 9}, 2, 3, 1, 1, 0, int64(0))
	f.Add([]byte{}, 0, 0, 0, 0, 0, int64(3600))
	f.Add([]byte{5, 5, 5, 5}, 1, 1, 1, 1, 1, int64(-5))
	f.Fuzz(func(t *testing.T, gaps []byte, last, daily, weekly, monthly, yearly int, within int64) {
		base := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
		var items []retention.Item
		at := base
		for i, g := range gaps {
			at = at.Add(-time.Duration(g) * 97 * time.Minute) // gap 0 gives equal times
			items = append(items, retention.Item{Name: fmt.Sprintf("b%03d", i%7), Time: at})
		}
		p := retention.Policy{Last: last % 50, Daily: daily % 50, Weekly: weekly % 50, Monthly: monthly % 50, Yearly: yearly % 50,
			Within: time.Duration(within%1000) * time.Hour}
		ds := retention.Apply(items, p, base)
		if got, want := len(ds), len(items); got != want {
			t.Fatalf("len=%d, want %d", got, want)
		}
		if len(ds) == 0 {
			return
		}
		if !ds[0].Keep {
			t.Fatalf("newest item removed: %v", ds[0])
		}
		kept := 0
		for i, d := range ds {
			if i > 0 && d.Item.Time.After(ds[i-1].Item.Time) {
				t.Fatalf("not newest first at %d", i)
			}
			if d.Keep != (len(d.Reasons) > 0) {
				t.Fatalf("Keep=%v with reasons %q", d.Keep, d.Reasons)
			}
			if d.Keep {
				kept++
			}
		}
		if p.Within <= 0 {
			limit := 1 + max(p.Last, 0) + max(p.Daily, 0) + max(p.Weekly, 0) + max(p.Monthly, 0) + max(p.Yearly, 0)
			if kept > limit {
				t.Fatalf("kept %d, more than %d", kept, limit)
			}
		}
	})
}
