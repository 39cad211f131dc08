package backup

import (
	"errors"
	"strings"
	"testing"
)

// TestInspectMissingColumn: a column inspect reads that the table lacks
// (renamed by a schema change, say) is an error naming it, not a blank.
func TestInspectMissingColumn(t *testing.T) {
	w := row{cols: map[string]int{"id": 0}, vals: []any{"u1"}, missing: map[string]bool{}}
	if got, want := w.str("id"), "u1"; got != want {
		t.Fatalf("str(id)=%q, want %q", got, want)
	}
	if err := w.err("users"); err != nil {
		t.Fatalf("err() with every column present = %v, want nil", err)
	}
	if got := w.str("username"); got != "" {
		t.Fatalf("str(username)=%q, want empty", got)
	}
	err := w.err("users")
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "users has no column username") {
		t.Fatalf("err()=%v, want ErrMalformed naming users.username", err)
	}
}
