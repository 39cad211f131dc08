package auditseg

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
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
			checkGoldenFrames(t, b, want, 3)
		})
	}
}

// checkGoldenFrames checks that the segment file b decodes to want,
// whole, a frame at a time and with Scan, and has frames frames.
func checkGoldenFrames(t *testing.T, b []byte, want []bitnobi.AuditEntry, frames int) {
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
	if got, want := len(x.Frames), frames; got != want {
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

// TestRoundTripDictionary encodes entries whose values repeat as the
// audit log's do, though not always together (a user's name or address
// that changes, a value that repeats in one column and not another, long
// values, empty ones), and decodes them back, whole and frame by frame.
func TestRoundTripDictionary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	es := make([]bitnobi.AuditEntry, 3*FrameEntries+17)
	prev := ""
	at := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	long := strings.Repeat("ø", 3000)
	for i := range es {
		u := strconv.Itoa(r.IntN(30))
		at = at.Add(time.Duration(r.Int64N(int64(20 * time.Second))))
		e := bitnobi.AuditEntry{Seq: int64(i + 1), At: at, ActorID: "user-" + u, ActorName: "name " + u,
			Action:     []string{bitnobi.ActionSignIn, bitnobi.ActionSignOut, bitnobi.ActionDataSourceAccess}[r.IntN(3)],
			TargetType: "user", TargetID: "t" + strconv.Itoa(r.IntN(50)), RemoteAddr: "192.0.2." + u, PrevHash: prev}
		switch r.IntN(10) {
		case 0:
			e.ActorName = "renamed " + u // the name goes with its id less often
		case 1:
			e.RemoteAddr = "198.51.100." + strconv.Itoa(r.IntN(256)) // another address
		case 2:
			e.Detail = strconv.FormatUint(r.Uint64(), 16) // unique
		case 3:
			e.Detail = long + u
		case 4:
			e.ActorID, e.TargetType = "", "workflow" // a federated entry
			e.RemoteUser = "ana@partner"
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		es[i] = e
	}
	b, err := Encode(es)
	if err != nil {
		t.Fatal(err)
	}
	x, err := ReadIndex(bytes.NewReader(b), int64(len(b)), int64(len(es)))
	if err != nil {
		t.Fatal(err)
	}
	if x.dictSize == 0 {
		t.Fatal("no dictionary")
	}
	checkGoldenFrames(t, b, es, 4)
}

// TestDictCache reads frames of one segment through many Indexes, as a
// store does of many segments: the dictionaries they hold stay within
// dictCacheSize (and one more), the oldest are dropped, and an Index
// whose dictionary was dropped reads it again.
func TestDictCache(t *testing.T) {
	es := goldenEntries()[:100]
	long := strings.Repeat("x", 200<<10)
	for i := range es {
		es[i].Detail = long + strconv.Itoa(i%2) // two values, each repeated
		if i > 0 {
			es[i].PrevHash = es[i-1].Hash
		}
		es[i].Hash = es[i].ComputeHash()
	}
	b, err := Encode(es)
	if err != nil {
		t.Fatal(err)
	}
	var xs []*Index
	for range 2 * dictCacheSize / (400 << 10) {
		x, err := ReadIndex(bytes.NewReader(b), int64(len(b)), int64(len(es)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.ReadFrame(bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		// Frames are cut at MaxFrameSize of entries decoded: 20 here.
		if diff := cmp.Diff(es[:20], got); diff != "" {
			t.Fatalf("ReadFrame differs (-want +got):\n%s", diff)
		}
		xs = append(xs, x)
		dictCache.mu.Lock()
		held := dictCache.bytes
		dictCache.mu.Unlock()
		if held > dictCacheSize+MaxDictSize+MaxDictStrings*16 {
			t.Fatalf("dictionaries hold %d bytes, more than %d and one", held, dictCacheSize)
		}
	}
	if xs[0].dict.Load() != nil {
		t.Fatal("the oldest Index still holds its dictionary")
	}
	if xs[len(xs)-1].dict.Load() == nil {
		t.Fatal("the newest Index does not hold its dictionary")
	}
	got, err := xs[0].ReadFrame(bytes.NewReader(b), 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(es[:20], got); diff != "" {
		t.Fatalf("ReadFrame after its dictionary was dropped differs (-want +got):\n%s", diff)
	}
}
