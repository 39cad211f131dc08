// Package reliability holds no code: its tests attack backup and restore
// from outside, with the real bitnobi binary run as separate processes
// (so that kill -9 is real), real file systems (a small tmpfs for disk
// full, when the test runs as root) and hostile backup directories.
//
// The fast profile runs with "go test ./..." in CI. The long profile, for
// manual runs, multiplies the trials:
//
//	BITNOBI_RELIABILITY=long go test -timeout 60m ./reliability/
//	go test -tags reliability_long -timeout 60m ./reliability/
//
// docs/reliability.md lists each fault, the trials of the last long run
// and their outcome.
package reliability
