package auditseg_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
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
	for _, n := range []int{0, 1, 1000, 2 * auditseg.FrameEntries, 2*auditseg.FrameEntries + 1} {
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
			// Each frame decodes alone, from its prev_hash in the table.
			x, err := auditseg.ReadIndex(bytes.NewReader(b), int64(len(b)), int64(n))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(x.Frames), (n+auditseg.FrameEntries-1)/auditseg.FrameEntries; got != want {
				t.Fatalf("%d frames, want %d", got, want)
			}
			for i := len(x.Frames) - 1; i >= 0; i-- {
				f := x.Frames[i]
				es, err := x.ReadFrame(bytes.NewReader(b), i)
				if err != nil {
					t.Fatal(err)
				}
				first := int(f.FirstSeq - 1)
				if diff := cmp.Diff(in[first:first+f.Entries], es); diff != "" {
					t.Fatalf("frame %d alone differs (-want +got):\n%s", i, diff)
				}
				if got := x.Find(f.FirstSeq + int64(f.Entries) - 1); got != i {
					t.Fatalf("Find(last seq of frame %d)=%d", i, got)
				}
			}
			if got := x.Find(int64(n) + 1); got != len(x.Frames) {
				t.Fatalf("Find(past the end)=%d, want %d", got, len(x.Frames))
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

func TestEncodeRefuses(t *testing.T) {
	for name, change := range map[string]func(es []bitnobi.AuditEntry){
		"NotAHash": func(es []bitnobi.AuditEntry) { es[4].Hash = "x" },
		"Gap":      func(es []bitnobi.AuditEntry) { es[2].Seq++ },
		"Link":     func(es []bitnobi.AuditEntry) { es[2].PrevHash = es[0].Hash },
		"Prev":     func(es []bitnobi.AuditEntry) { es[0].PrevHash = "x" },
		"Seq":      func(es []bitnobi.AuditEntry) { es[0].Seq = 0 },
		"Year": func(es []bitnobi.AuditEntry) {
			es[4].At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			es[4].Hash = es[4].ComputeHash()
		},
	} {
		t.Run(name, func(t *testing.T) {
			es := entries(5)
			change(es)
			if _, err := auditseg.Encode(es); err == nil {
				t.Fatal("Encode() accepted it")
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
	table := bytes.Clone(good)
	table[15] ^= 1
	version := bytes.Clone(good)
	version[len(auditseg.Magic)] = 1
	for name, b := range map[string][]byte{
		"Empty":     nil,
		"Magic":     append([]byte("XXAUDSEG"), good[8:]...),
		"Version":   version,
		"Truncated": good[:len(good)-5],
		"Longer":    append(bytes.Clone(good), 0),
		"Flipped":   flipped,
		"Table":     table,
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
	zeros := zstdFrame(t, make([]byte, 64<<20))
	for name, tt := range map[string]struct {
		b    []byte
		want int64
		msg  string
	}{
		"OtherCount": {good, 11, "not the 11 indexed"},
		"FewerCount": {good, 9, "not the 9 indexed"},
		// Frames that declare more than a segment may hold, in a tiny file.
		"Bomb": {craft(70, slices.Repeat([]craftFrame{{1, auditseg.MaxFrameSize, []byte("tiny")}}, 70)), -1, "declares"},
		// A frame of more entries than a frame may hold (as zeros are).
		"FrameEntries": {craft(auditseg.MaxFrameEntries+1, []craftFrame{{auditseg.MaxFrameEntries + 1, 1 << 20, zstdFrame(t, make([]byte, 1<<20))}}), -1, "entries"},
		// A frame larger than a frame may be.
		"BigFrame": {craft(1, []craftFrame{{1, 64 << 20, zeros}}), -1, "in 67108864 bytes"},
		// A frame whose zstd header declares more than the table.
		"FrameBomb": {craft(1, []craftFrame{{1, 20, zeros}}), -1, "does not declare"},
		// A frame whose zstd header declares nothing.
		"StreamBomb":  {craft(1, []craftFrame{{1, 1 << 20, noSize(t, make([]byte, 64<<20))}}), -1, "does not declare"},
		"ManyEntries": {craft(1<<30, []craftFrame{{1 << 30, 100, []byte("x")}}), -1, "more than"},
		"ManyFrames":  {craft(1000, nil), -1, "frames for"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auditseg.Decode(tt.b, tt.want)
			if !errors.Is(err, auditseg.ErrFormat) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Decode()=%v, want ErrFormat saying %q", err, tt.msg)
			}
		})
	}
}

// craftFrame is a frame for craft: entries and decompressed size as the
// frame table declares them, and its bytes.
type craftFrame struct {
	entries, raw uint64
	data         []byte
}

// craft returns a segment file of entries entries from seq 1 with the
// given frames (ManyFrames: one more frame declared than given), its
// frame table's checksum right, as a hostile file's would be.
func craft(entries uint64, frames []craftFrame) []byte {
	var table []byte
	table = binary.AppendUvarint(table, entries)
	table = binary.AppendUvarint(table, 1)
	nf := uint64(len(frames))
	if nf == 0 {
		nf = entries
	}
	table = binary.AppendUvarint(table, nf)
	for i, f := range frames {
		table = binary.AppendUvarint(table, f.entries)
		table = binary.AppendUvarint(table, f.raw)
		table = binary.AppendUvarint(table, uint64(len(f.data)))
		if i == 0 {
			table = append(table, 0)
		} else {
			table = append(table, 32)
			table = append(table, make([]byte, 32)...)
		}
	}
	out := []byte(auditseg.Magic + "\x02")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(table)))
	out = append(out, table...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(table, crc32.MakeTable(crc32.Castagnoli)))
	for _, f := range frames {
		out = append(out, f.data...)
	}
	return out
}

// zstdFrame returns raw compressed as one zstd frame that declares its
// size.
func zstdFrame(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil)
}

// noSize returns raw as a zstd frame that does not declare its size (a
// streaming writer's of more than one block).
func noSize(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
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
// error wrapping ErrFormat, never panic or allocate without bound; what
// it decodes, each frame decodes alone to the same, and encodes back to
// what decodes the same.
func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 3, 50, auditseg.FrameEntries + 2} {
		b, err := auditseg.Encode(entries(n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(n))
		f.Add(b, int64(n+1)) // a count the index disagrees with
		f.Add(b, int64(-1))
	}
	f.Add([]byte(auditseg.Magic+"\x02"), int64(0))
	f.Add(craft(1, []craftFrame{{1, auditseg.MaxFrameSize, []byte("tiny")}}), int64(-1))
	f.Add(craft(1, []craftFrame{{1, 1 << 20, noSize(f, make([]byte, 1<<20))}}), int64(-1))
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
		x, err := auditseg.ReadIndex(bytes.NewReader(b), int64(len(b)), want)
		if err != nil {
			t.Fatalf("Decode accepted what ReadIndex refuses: %v", err)
		}
		n := 0
		for i, fr := range x.Frames {
			fes, err := x.ReadFrame(bytes.NewReader(b), i)
			if err != nil {
				t.Fatalf("Decode accepted frame %d, ReadFrame refuses it: %v", i, err)
			}
			if diff := cmp.Diff(es[n:n+fr.Entries], fes); diff != "" {
				t.Fatalf("frame %d alone differs:\n%s", i, diff)
			}
			n += fr.Entries
		}
		// Hostile frames need not link: a checker finds that. Re-chain
		// them as a sealer would have, then what encodes decodes the same.
		for i := range es {
			if i > 0 {
				es[i].PrevHash = es[i-1].Hash
			}
			es[i].Hash = es[i].ComputeHash()
		}
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

// BenchmarkDecodeFrame decodes one full frame of a segment: Hashed as a
// page of the whole log does (DecodeFrame), Fields as a filtered query
// reads a frame it finds no match in (DecodeFrameFieldsInto, into the
// memory of the frame before, no hashes).
func BenchmarkDecodeFrame(b *testing.B) {
	data, err := auditseg.Encode(entries(4 * auditseg.FrameEntries))
	if err != nil {
		b.Fatal(err)
	}
	x, err := auditseg.ReadIndex(bytes.NewReader(data), int64(len(data)), -1)
	if err != nil {
		b.Fatal(err)
	}
	f := x.Frames[1]
	frame := data[f.Offset : f.Offset+int64(f.Size)]
	b.Run("Hashed", func(b *testing.B) {
		b.SetBytes(int64(f.RawSize))
		for b.Loop() {
			if _, err := x.DecodeFrame(1, frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Fields", func(b *testing.B) {
		b.SetBytes(int64(f.RawSize))
		var es []bitnobi.AuditEntry
		var buf []byte
		for b.Loop() {
			if es, buf, err = x.DecodeFrameFieldsInto(1, frame, es, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
