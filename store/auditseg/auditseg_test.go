package auditseg_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// entries returns n chained entries with varied content.
func entries(n int) []bitnobi.AuditEntry {
	es := make([]bitnobi.AuditEntry, n)
	prev := ""
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range es {
		id := strconv.Itoa(i)
		es[i] = bitnobi.AuditEntry{
			Seq: int64(i + 1), At: start.Add(time.Duration(i) * 1234567 * time.Nanosecond),
			ActorID: "u" + id, ActorName: "ünïcode " + id, Action: bitnobi.ActionDataSourceAccess,
			TargetType: "datasource", TargetID: "ds" + id, Detail: `{"n":` + id + `}`,
			RemoteAddr: "192.0.2.1", PrevHash: prev,
		}
		if i%3 == 0 {
			es[i].RemoteUser = "ana@partner"
		}
		es[i].Hash = es[i].ComputeHash()
		prev = es[i].Hash
	}
	return es
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			in := entries(n)
			b, err := auditseg.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := auditseg.Decode(b, int64(n))
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				in = []bitnobi.AuditEntry{}
			}
			if diff := cmp.Diff(in, out); diff != "" {
				t.Fatalf("Decode(Encode()) differs (-want +got):\n%s", diff)
			}
			for i := range out {
				if got, want := out[i].ComputeHash(), in[i].Hash; got != want {
					t.Fatalf("entry %d: hash %s, want %s", i, got, want)
				}
			}
			// Deterministic: the same entries give the same bytes.
			b2, err := auditseg.Encode(entries(n))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatal("Encode is not deterministic")
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := auditseg.Encode(entries(10))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-3] ^= 0xff
	version := bytes.Clone(good)
	version[len(auditseg.Magic)] = 2
	for name, b := range map[string][]byte{
		"Empty":     nil,
		"Magic":     append([]byte("XXAUDSEG"), good[8:]...),
		"Version":   version,
		"Truncated": good[:len(good)-5],
		"Flipped":   flipped,
		"Header":    good[:9],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := auditseg.Decode(b, 10); !errors.Is(err, auditseg.ErrFormat) {
				t.Fatalf("Decode()=%v, want ErrFormat", err)
			}
		})
	}
	// Refused before anything is allocated for what they declare: the
	// error names the declaration, not a later parse failure.
	for name, tt := range map[string]struct {
		b    []byte
		want int64
		msg  string
	}{
		"OtherCount": {good, 11, "not the 11 indexed"},
		"FewerCount": {good, 9, "not the 9 indexed"},
		"Bomb":       {bomb(t), -1, "declares"},
		"StreamBomb": {noSize(t, make([]byte, 64<<20)), -1, "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auditseg.Decode(tt.b, tt.want)
			if !errors.Is(err, auditseg.ErrFormat) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Decode()=%v, want ErrFormat saying %q", err, tt.msg)
			}
		})
	}
}

// bomb returns a segment file whose frame declares far more bytes than
// MaxRatio times its size: 64 MiB of zeros, a few KiB compressed.
func bomb(tb testing.TB) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(make([]byte, 64<<20), []byte(auditseg.Magic+"\x01"))
}

// noSize returns a segment file of raw whose frame does not declare its
// size (a streaming writer's of more than one block).
func noSize(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	out.WriteString(auditseg.Magic + "\x01")
	w, err := zstd.NewWriter(&out, zstd.WithWindowSize(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(raw)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// FuzzDecode feeds hostile bytes to Decode: it must return entries or an
// error wrapping ErrFormat, never panic or allocate without bound.
func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 3, 50} {
		b, err := auditseg.Encode(entries(n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(n))
		f.Add(b, int64(n+1)) // a count the index disagrees with
		f.Add(b, int64(-1))
	}
	f.Add([]byte(auditseg.Magic+"\x01"), int64(0))
	f.Add(bomb(f), int64(-1))
	f.Add(noSize(f, make([]byte, 1<<20)), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, want int64) {
		es, err := auditseg.Decode(b, want)
		if err != nil {
			if !errors.Is(err, auditseg.ErrFormat) {
				t.Fatalf("Decode error %v does not wrap ErrFormat", err)
			}
			return
		}
		if want >= 0 && int64(len(es)) != want {
			t.Fatalf("Decode(want %d) returned %d entries", want, len(es))
		}
		// What decodes encodes back to what decodes the same.
		b2, err := auditseg.Encode(es)
		if err != nil {
			t.Fatal(err)
		}
		es2, err := auditseg.Decode(b2, int64(len(es)))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			es = []bitnobi.AuditEntry{}
		}
		if diff := cmp.Diff(es, es2); diff != "" {
			t.Fatalf("re-encoded segment differs:\n%s", diff)
		}
	})
}
