package bitnobi_test

import (
	"testing"

	"github.com/bitnobi/bitnobi"
)

// TestNewID_Increasing checks that IDs made in a burst (many within one
// millisecond) are valid, unique and strictly increasing, so that ordering
// by ID is creation order.
func TestNewID_Increasing(t *testing.T) {
	prev := bitnobi.NewID()
	for i := 0; i < 100000; i++ {
		id := bitnobi.NewID()
		if !bitnobi.ValidID(id) {
			t.Fatalf("NewID() = %q, not a valid ID", id)
		}
		if id <= prev {
			t.Fatalf("NewID() = %s after %s: not increasing", id, prev)
		}
		prev = id
	}
}
