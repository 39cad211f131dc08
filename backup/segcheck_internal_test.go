package backup

import (
	"errors"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/store"
)

// TestSegmentChecks_OnlyForTheSameRow: the result of a check made as a
// segment's file was copied stands for a loaded index row only when the
// row is exactly the one checked; a row that differs in any field (a
// migration's change, or a row the early read decoded otherwise) is
// checked again from the blob store.
func TestSegmentChecks_OnlyForTheSameRow(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func() store.AuditSegment {
		return store.AuditSegment{
			FirstSeq: 1, LastSeq: 4, Entries: 4, FirstAt: at, LastAt: at.Add(time.Hour),
			PrevHash: "", LastHash: "h4", BlobID: "b1", Size: 100,
			Actors: []string{"a"}, Actions: []string{"x"}, TargetTypes: []string{"t"},
		}
	}
	errBroken := errors.New("broken")
	sc := &segmentChecks{done: map[int64]checkedSegment{1: {seg: row(), err: errBroken}}}
	seg := row()
	seg.FirstAt = at.In(time.FixedZone("X", 3600)) // the same instant
	if ok, err := sc.result(&seg); !ok || err != errBroken {
		t.Fatalf("result of the row checked: %v, %v; want true, %v", ok, err, errBroken)
	}
	for _, c := range []struct {
		name  string
		alter func(s *store.AuditSegment)
	}{
		{"LastSeq", func(s *store.AuditSegment) { s.LastSeq++ }},
		{"Entries", func(s *store.AuditSegment) { s.Entries++ }},
		{"FirstAt", func(s *store.AuditSegment) { s.FirstAt = s.FirstAt.Add(time.Nanosecond) }},
		{"LastAt", func(s *store.AuditSegment) { s.LastAt = s.LastAt.Add(time.Second) }},
		{"PrevHash", func(s *store.AuditSegment) { s.PrevHash = "x" }},
		{"LastHash", func(s *store.AuditSegment) { s.LastHash = "x" }},
		{"BlobID", func(s *store.AuditSegment) { s.BlobID = "b2" }},
		{"Size", func(s *store.AuditSegment) { s.Size++ }},
		{"Actors", func(s *store.AuditSegment) { s.Actors = append(s.Actors, "b") }},
		{"Actions", func(s *store.AuditSegment) { s.Actions = nil }},
		{"TargetTypes", func(s *store.AuditSegment) { s.TargetTypes = []string{"u"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := row()
			c.alter(&seg)
			if ok, _ := sc.result(&seg); ok {
				t.Fatal("a row that differs took the result of the row checked")
			}
		})
	}
	other := row()
	other.FirstSeq = 5
	if ok, _ := sc.result(&other); ok {
		t.Fatal("a segment not checked has a result")
	}
	var none *segmentChecks
	if ok, _ := none.result(&seg); ok {
		t.Fatal("a restore with no early checks has a result")
	}
}
