package main

import (
	"os"
	"testing"
)

// envRunMain makes the test binary act as bitnobi: serve runs its
// scheduled backups as child processes of its own binary, which in tests
// is this one; serve's tests put it in their Main's childEnv.
const envRunMain = "BITNOBI_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}
