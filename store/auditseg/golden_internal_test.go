package auditseg

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
)

// goldenEntries returns the entries of the golden segment files under
// testdata: 1100 chained entries (three frames of a v2 file), with
// repeated actors and targets, unique run ids, empty fields and
// non-ASCII text, as the audit log holds them.
func goldenEntries() []bitnobi.AuditEntry {
	es := make([]bitnobi.AuditEntry, 1100)
	prev := ""
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range es {
		u := strconv.Itoa(i * 7 % 13)
		at = at.Add(time.Duration(i%5)*time.Second + time.Duration(i*7919%1000003)*time.Microsecond)
		e := bitnobi.AuditEntry{
			Seq: int64(i + 1), At: at, ActorID: "user-" + u, ActorName: "ünïcode " + u,
			Action: bitnobi.ActionSignIn, TargetType: "user", TargetID: "user-" + u,
			RemoteAddr: "192.0.2." + u, PrevHash: prev,
		}
		switch i % 4 {
		case 1:
			e.Action, e.TargetType, e.TargetID = bitnobi.ActionDataSourceAccess, "datasource", "ds-"+strconv.Itoa(i%17)
			e.Detail = `{"name":"source ` + strconv.Itoa(i%17) + `"}`
		case 2:
			e.Action, e.TargetType, e.TargetID = bitnobi.ActionWorkflowStart, "workflow", "wf-"+strconv.Itoa(i%5)
			e.Detail = `{"run_id":"` + strconv.FormatInt(int64(i)*2654435761, 16) + `"}`
		case 3:
			if i%8 == 3 {
				e.ActorID, e.RemoteUser = "", "ana@partner"
			}
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		es[i] = e
	}
	return es
}

// TestGoldenV2 decodes a segment file written by the version 2 encoder
// (format 5 backups and data directories hold them): every reader of
// this package must keep reading it to the same entries and hashes.
func TestGoldenV2(t *testing.T) {
	b, err := os.ReadFile("testdata/v2-1100-entries.seg")
	if err != nil {
		t.Fatal(err)
	}
	want := goldenEntries()
	if got, want := b[len(Magic)], byte(2); got != want {
		t.Fatalf("version byte %d, want %d", got, want)
	}
	got, err := Decode(b, int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Decode(golden v2) differs (-want +got):\n%s", diff)
	}
	x, err := ReadIndex(bytes.NewReader(b), int64(len(b)), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(x.Frames), 3; got != want {
		t.Fatalf("%d frames, want %d", got, want)
	}
	for i := len(x.Frames) - 1; i >= 0; i-- {
		f := x.Frames[i]
		es, err := x.ReadFrame(bytes.NewReader(b), i)
		if err != nil {
			t.Fatal(err)
		}
		first := int(f.FirstSeq - 1)
		if diff := cmp.Diff(want[first:first+f.Entries], es); diff != "" {
			t.Fatalf("frame %d alone differs (-want +got):\n%s", i, diff)
		}
	}
	n := 0
	err = Scan(b, int64(len(want)), func(es []bitnobi.AuditEntry) error {
		if diff := cmp.Diff(want[n:n+len(es)], es); diff != "" {
			t.Fatalf("Scan's frame at %d differs (-want +got):\n%s", n, diff)
		}
		n += len(es)
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("Scan()=%v after %d entries", err, n)
	}
}
