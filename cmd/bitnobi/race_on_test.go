//go:build race

package main

// raceEnabled reports whether the race detector is on. It slows pure-Go
// hashing and compression about tenfold, so the end-to-end tests move less
// data under it; scripts/test.sh also runs them without it at full size.
const raceEnabled = true
