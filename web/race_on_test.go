//go:build race

package web_test

// raceEnabled reports whether the race detector is on: it slows hashing
// about tenfold, so the large upload is smaller under it.
const raceEnabled = true
