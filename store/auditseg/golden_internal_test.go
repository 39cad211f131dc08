package auditseg

import (
	"bytes"
	"flag"
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

var update = flag.Bool("update", false, "rewrite testdata/v3-1100-entries.seg from the encoder")

// TestGolden decodes a segment file of each version: version 2, written
// by the encoder of format 5 (backups and data directories hold them),
// and version 3, which [Encode] writes. Every reader of this package
// must keep reading them to the same entries and hashes, and the
// encoder must keep writing version 3 byte for byte (go test -update
// rewrites it, for a new version only).
func TestGolden(t *testing.T) {
	want := goldenEntries()
	if *update {
		b, err := Encode(want)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/v3-1100-entries.seg", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []int{2, 3} {
		t.Run("v"+strconv.Itoa(v), func(t *testing.T) {
			b, err := os.ReadFile("testdata/v" + strconv.Itoa(v) + "-1100-entries.seg")
			if err != nil {
				t.Fatal(err)
			}
			if got := b[len(Magic)]; got != byte(v) {
				t.Fatalf("version byte %d, want %d", got, v)
			}
			if v == Version {
				enc, err := Encode(want)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(enc, b) {
					t.Fatalf("Encode() writes %d bytes other than the golden file's %d: a new format needs a new version", len(enc), len(b))
				}
			}
			checkGolden(t, b, want)
		})
	}
}

// checkGolden checks that the segment file b decodes to want, whole, a
// frame at a time and with Scan.
func checkGolden(t *testing.T, b []byte, want []bitnobi.AuditEntry) {
	t.Helper()
	got, err := Decode(b, int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Decode(golden) differs (-want +got):\n%s", diff)
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
