//go:build !race

package web_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
