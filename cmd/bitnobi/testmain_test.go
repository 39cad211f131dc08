package main

import (
	"os"
	"testing"
)

// envRunMain makes the test binary act as bitnobi: serve runs its
// scheduled backups as child processes of its own binary, which in tests
// is this one.
const envRunMain = "BITNOBI_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main() // exits
	}
	// Every child a test starts (through serve's schedule) runs Main.
	os.Setenv(envRunMain, "1")
	os.Exit(m.Run())
}
