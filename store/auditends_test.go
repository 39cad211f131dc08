package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// endsSegSize is the segment size of the tests of the ends check: three
// frames a segment, so that one lies between the ends.
const endsSegSize = 2*auditseg.FrameEntries + 100

// sealedForEnds seals two segments of endsSegSize entries and returns the
// second (its prev_hash is not empty) and its file's bytes. The second
// segment's last entry is timed before all its others, as a clock set
// back may time it: its last_at is not its last entry's time.
func sealedForEnds(t *testing.T) (store.AuditSegment, []byte) {
	t.Helper()
	db := openSealDB(t, dbtest.SQLite)
	db.AuditSegmentSize = endsSegSize
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	var n0 int // entries the new database holds
	if err := db.Read.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&n0); err != nil {
		t.Fatal(err)
	}
	es := variedAudit(2*endsSegSize+3, start)
	// Segments end before each multiple of their size: the second one's
	// last entry is seq 2*endsSegSize-1.
	last := 2*endsSegSize - 1 - 1 - n0
	es[last].At = start.Add(time.Second)
	appendAll(t, db, es)
	ctx := context.Background()
	if _, err := db.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil || len(segs) != 2 {
		t.Fatalf("segments %v, %v; want 2", segs, err)
	}
	seg := segs[1]
	if seg.LastSeq != int64(n0+last+1) || !seg.FirstAt.Equal(start.Add(time.Second)) || !seg.LastAt.Equal(es[last-1].At) {
		t.Fatalf("segment seq %d-%d, times %s to %s: its last entry is not the one timed back", seg.FirstSeq, seg.LastSeq, seg.FirstAt, seg.LastAt)
	}
	data, err := os.ReadFile(db.Blobs.Path(seg.BlobID))
	if err != nil {
		t.Fatal(err)
	}
	return seg, data
}

// TestCheckAuditSegmentEnds: the ends check accepts an intact segment
// (whose last entry's time is not its last_at), refuses a row altered in
// any field it can see from the file's ends, and leaves to the full
// check what only every entry shows: a summary, a first_at or last_at
// wider than the entries' (which makes a query read the segment, never
// skip an entry).
func TestCheckAuditSegmentEnds(t *testing.T) {
	seg, data := sealedForEnds(t)
	for _, c := range []struct {
		name       string
		alter      func(s *store.AuditSegment)
		ends, full string // what each check's error names; "" for none
	}{
		{"Intact", func(*store.AuditSegment) {}, "", ""},
		{"FirstSeq", func(s *store.AuditSegment) { s.FirstSeq++ }, "index row says", "index row says"},
		{"LastSeq", func(s *store.AuditSegment) { s.LastSeq-- }, "index row says", "index row says"},
		{"Entries", func(s *store.AuditSegment) { s.Entries-- }, "index row says", "index row says"},
		{"Shifted", func(s *store.AuditSegment) { s.FirstSeq++; s.LastSeq++ }, "from seq", "from seq"},
		{"Shorter", func(s *store.AuditSegment) { s.LastSeq--; s.Entries-- }, "not the", "not the"},
		{"FirstAtLater", func(s *store.AuditSegment) { s.FirstAt = s.FirstAt.Add(time.Nanosecond) }, "times", "times"},
		{"LastAtEarlier", func(s *store.AuditSegment) { s.LastAt = s.LastAt.Add(-time.Nanosecond) }, "times", "times"},
		{"PrevHash", func(s *store.AuditSegment) { s.PrevHash = strings.Repeat("0", 64) }, "prev_hash", "prev_hash"},
		{"LastHash", func(s *store.AuditSegment) { s.LastHash = strings.Repeat("0", 64) }, "last_hash", "last_hash"},
		{"BlobID", func(s *store.AuditSegment) { s.BlobID = strings.Repeat("0", 64) }, "altered", "altered"},
		{"Size", func(s *store.AuditSegment) { s.Size++ }, "bytes", ""},
		{"FirstAtEarlier", func(s *store.AuditSegment) { s.FirstAt = s.FirstAt.Add(-time.Nanosecond) }, "", "times"},
		{"LastAtLater", func(s *store.AuditSegment) { s.LastAt = s.LastAt.Add(time.Nanosecond) }, "", "times"},
		{"Actors", func(s *store.AuditSegment) { s.Actors = s.Actors[1:] }, "", "summaries"},
		{"Actions", func(s *store.AuditSegment) { s.Actions = []string{"nothing.here"} }, "", "summaries"},
		{"TargetTypes", func(s *store.AuditSegment) { s.TargetTypes = nil }, "", "summaries"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := seg
			c.alter(&s)
			checkEnds(t, "CheckAuditSegmentEnds", store.CheckAuditSegmentEnds(&s, data), c.ends)
			checkEnds(t, "CheckAuditSegmentData", store.CheckAuditSegmentData(&s, data), c.full)
		})
	}
}

// TestCheckAuditSegmentEnds_InnerFrame: a file whose middle frame is
// damaged, under a row that names its bytes, passes the ends check (it
// decodes only the first and last frames) and fails the full one.
func TestCheckAuditSegmentEnds_InnerFrame(t *testing.T) {
	seg, data := sealedForEnds(t)
	x, err := auditseg.ReadIndex(bytes.NewReader(data), int64(len(data)), seg.Entries)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(x.Frames), 3; got != want {
		t.Fatalf("%d frames, want %d", got, want)
	}
	f := x.Frames[1]
	data = append([]byte(nil), data...)
	data[f.Offset+int64(f.Size)/2] ^= 0x40
	sum := sha256.Sum256(data)
	seg.BlobID = hex.EncodeToString(sum[:])
	checkEnds(t, "CheckAuditSegmentEnds", store.CheckAuditSegmentEnds(&seg, data), "")
	checkEnds(t, "CheckAuditSegmentData", store.CheckAuditSegmentData(&seg, data), "frame 1")

	// Damage in an end frame is the ends check's too.
	for _, k := range []int{0, 2} {
		f := x.Frames[k]
		d := append([]byte(nil), data...)
		d[f.Offset+int64(f.Size)/2] ^= 0x40
		sum := sha256.Sum256(d)
		s := seg
		s.BlobID = hex.EncodeToString(sum[:])
		checkEnds(t, "CheckAuditSegmentEnds", store.CheckAuditSegmentEnds(&s, d), fmt.Sprintf("frame %d", k))
	}
}

// checkEnds fails t unless err is nil when want is "", or else wraps
// [store.ErrAuditChain], names the segment and contains want.
func checkEnds(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("%s: %v, want nil", name, err)
	case want != "" && (!errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "sealed segment seq ")):
		t.Fatalf("%s: %v, want %v naming the segment and %q", name, err, store.ErrAuditChain, want)
	}
}
