package bitnobi

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTime checks the fast formatter against the time package's, at
// the edges of its range and at random times in it and beyond.
func TestAppendTime(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 1, time.FixedZone("X", -7*3600)),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(400_000_000_000)-100_000_000_000, r.Int64N(1e9)))
	}
	for _, tm := range times {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(TimeFormat); got != want {
			t.Fatalf("appendTime(%v)=%s, want %s", tm, got, want)
		}
	}
}
