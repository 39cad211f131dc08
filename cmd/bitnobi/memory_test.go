package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestLimitMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMEMLIMIT" {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		args []string
		env  string
		want int64
	}{
		{[]string{"backup", "--data-dir", "d"}, "", backupMemoryLimit},
		{[]string{"restore", "b"}, "", backupMemoryLimit},
		{[]string{"backups", "verify", "--all"}, "", backupMemoryLimit},
		{[]string{"serve"}, "", 0},
		{[]string{"backup"}, "1GiB", 0}, // the operator's setting rules
		{nil, "", 0},
	}
	for _, c := range cases {
		debug.SetMemoryLimit(math.MaxInt64)
		if got := limitMemory(c.args, env(c.env)); got != c.want {
			t.Errorf("limitMemory(%q, GOMEMLIMIT=%q) = %d, want %d", c.args, c.env, got, c.want)
		}
		want := c.want
		if want == 0 {
			want = math.MaxInt64
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("limitMemory(%q, GOMEMLIMIT=%q): runtime limit %d, want %d", c.args, c.env, got, want)
		}
	}
}
