package auditseg_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
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
	// Version 3 by hand: a dictionary, a code past it, values.
	one := dictOf(1, "u1", "")
	f.Add(craft3(2, uint64(len(one)), declared(f, one), []craftFrame3{{2, uint64(len(codes(2, 1))), 0, declared(f, codes(2, 1)), nil}}), int64(2))
	f.Add(craft3(1, uint64(len(one)), declared(f, one), []craftFrame3{{1, uint64(len(codes(1, 3))), 0, declared(f, codes(1, 3)), nil}}), int64(1))
	vals := bytes.Repeat([]byte{1, 'x'}, 8)
	f.Add(craft3(1, 0, nil, []craftFrame3{{1, uint64(len(codes(1, 0))), uint64(len(vals)), declared(f, codes(1, 0)), declared(f, vals)}}), int64(1))
	gold, err := os.ReadFile("testdata/v2-1100-entries.seg")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(gold, int64(1100))
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
	r := bytes.NewReader(data)
	x, err := auditseg.ReadIndex(r, int64(len(data)), -1)
	if err != nil {
		b.Fatal(err)
	}
	f := x.Frames[1]
	frame := data[f.Offset : f.Offset+int64(f.Size)]
	b.Run("Hashed", func(b *testing.B) {
		b.SetBytes(int64(f.RawSize))
		for b.Loop() {
			if _, err := x.DecodeFrame(r, 1, frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Fields", func(b *testing.B) {
		b.SetBytes(int64(f.RawSize))
		var es []bitnobi.AuditEntry
		var buf []byte
		for b.Loop() {
			if es, buf, err = x.DecodeFrameFieldsInto(r, 1, frame, es, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// craftFrame3 is a frame of version 3 for craft3: entries, its codes and
// values decompressed as the frame table declares them, and each part's
// bytes.
type craftFrame3 struct {
	entries, raw, litRaw uint64
	data, lits           []byte
}

// craft3 returns a segment file of version 3 of entries entries from seq
// 1 whose dictionary is declared to decompress to dictRaw bytes and is
// dict, with the given frames, its frame table's checksum right.
func craft3(entries, dictRaw uint64, dict []byte, frames []craftFrame3) []byte {
	var table []byte
	table = binary.AppendUvarint(table, entries)
	table = binary.AppendUvarint(table, 1)
	table = binary.AppendUvarint(table, uint64(len(frames)))
	table = binary.AppendUvarint(table, dictRaw)
	table = binary.AppendUvarint(table, uint64(len(dict)))
	for i, f := range frames {
		table = binary.AppendUvarint(table, f.entries)
		table = binary.AppendUvarint(table, f.raw)
		table = binary.AppendUvarint(table, uint64(len(f.data)))
		table = binary.AppendUvarint(table, f.litRaw)
		table = binary.AppendUvarint(table, uint64(len(f.lits)))
		if i == 0 {
			table = append(table, 0)
		} else {
			table = append(table, 32)
			table = append(table, make([]byte, 32)...)
		}
	}
	out := []byte(auditseg.Magic + "\x03")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(table)))
	out = append(out, table...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(table, crc32.MakeTable(crc32.Castagnoli)))
	out = append(out, dict...)
	for _, f := range frames {
		out = append(out, f.data...)
		out = append(out, f.lits...)
	}
	return out
}

// codes returns the decompressed first part of a frame of version 3 of n
// entries one second apart whose every text field names value c of its
// column's table (0: a value of the frame's), not a predicted one.
func codes(n int, c uint64) []byte {
	var b []byte
	for i := range n {
		b = binary.AppendVarint(b, int64(min(i, 1))*1_700_000_000+1)
	}
	b = append(b, make([]byte, 4*n)...)
	for k := range 8 {
		for range n {
			// Columns 1, 3, 5 and 6 are predicted: their code 1 is the
			// predicted value.
			if c > 0 && (k == 1 || k == 3 || k == 5 || k == 6) {
				b = binary.AppendUvarint(b, c+1)
			} else {
				b = binary.AppendUvarint(b, c)
			}
		}
	}
	return b
}

// predictedCodes is codes(n, 1) with code 1, the value predicted, in
// column 1.
func predictedCodes(n int) []byte {
	b := codes(n, 1)
	off := len(b) - 7*n
	for i := range n {
		b[off+i] = 1
	}
	return b
}

// dictOf returns a dictionary of version 3 whose every column holds the
// strings ss, and whose columns predict pred for the first value of each
// (0: none).
func dictOf(pred uint64, ss ...string) []byte {
	var b []byte
	for range 8 {
		b = binary.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}
	}
	for range 4 {
		for i := range ss {
			if i == 0 {
				b = binary.AppendUvarint(b, pred)
			} else {
				b = append(b, 0)
			}
		}
	}
	return b
}

func TestDecodeRefusesV3(t *testing.T) {
	frame := func(n int, c uint64, lits []byte) craftFrame3 {
		raw := codes(n, c)
		f := craftFrame3{entries: uint64(n), raw: uint64(len(raw)), data: declared(t, raw)}
		if lits != nil {
			f.litRaw, f.lits = uint64(len(lits)), declared(t, lits)
		}
		return f
	}
	one := dictOf(0, "u1")
	okDict := declared(t, one)
	// Sanity: a crafted file of the right shape decodes.
	if es, err := auditseg.Decode(craft3(2, uint64(len(one)), okDict, []craftFrame3{frame(2, 1, nil)}), 2); err != nil || es[1].ActorID != "u1" {
		t.Fatalf("Decode(crafted v3)=%v, %v", es, err)
	}
	pd := dictOf(1, "u1")
	if es, err := auditseg.Decode(craft3(1, uint64(len(pd)), declared(t, pd), []craftFrame3{{1, uint64(len(predictedCodes(1))), 0, declared(t, predictedCodes(1)), nil}}), 1); err != nil || es[0].ActorName != "u1" {
		t.Fatalf("Decode(crafted v3, predicted)=%v, %v", es, err)
	}
	if es, err := auditseg.Decode(craft3(1, 0, nil, []craftFrame3{frame(1, 0, bytes.Repeat([]byte{1, 'x'}, 8))}), 1); err != nil || es[0].Detail != "x" {
		t.Fatalf("Decode(crafted v3 without a dictionary)=%v, %v", es, err)
	}
	big := strings.Repeat("x", 100<<10)
	manyStrings := binary.AppendUvarint(nil, 1<<30)
	for name, tt := range map[string]struct {
		b   []byte
		msg string
	}{
		// A dictionary that declares more than a dictionary may hold.
		"DictBomb": {craft3(1, auditseg.MaxDictSize+1, []byte("tiny"), []craftFrame3{frame(1, 0, nil)}), "a dictionary of"},
		// One whose zstd header declares more than the table.
		"DictFrameBomb": {craft3(1, uint64(len(one)), declared(t, make([]byte, 1<<20)), []craftFrame3{frame(1, 1, nil)}), "does not declare"},
		// One that declares more strings than its bytes could hold.
		"DictStrings":  {craft3(1, uint64(len(manyStrings)+8), declared(t, append(manyStrings, make([]byte, 8)...)), []craftFrame3{frame(1, 1, nil)}), "strings, more than"},
		"DictTrailing": {craft3(1, uint64(len(one)+1), declared(t, append(bytes.Clone(one), 0)), []craftFrame3{frame(1, 1, nil)}), "after its last string"},
		// A code past the end of its column's table.
		"Code": {craft3(1, uint64(len(one)), okDict, []craftFrame3{frame(1, 2, nil)}), "names value 2"},
		// A prediction past the end of the predicted column's table.
		"Prediction": {craft3(1, uint64(len(dictOf(2, "u1"))), declared(t, dictOf(2, "u1")), []craftFrame3{frame(1, 1, nil)}), "predicts value 2"},
		// The predicted value where there is none.
		"NoPrediction": {craft3(1, uint64(len(one)), okDict, []craftFrame3{{1, uint64(len(predictedCodes(1))), 0, declared(t, predictedCodes(1)), nil}}), "predicts none"},
		// A frame that names a long value of the dictionary again and
		// again: refused before it is copied.
		"Expand": {craft3(8, uint64(len(dictOf(0, big))), declared(t, dictOf(0, big)), []craftFrame3{frame(8, 1, nil)}), "entries of more than"},
		// A code 0 with no value to read.
		"NoValue": {craft3(1, 0, nil, []craftFrame3{frame(1, 0, nil)}), "truncated"},
		// Values left over.
		"Values": {craft3(1, 0, nil, []craftFrame3{frame(1, 0, bytes.Repeat([]byte{0}, 9))}), "after the last value"},
		// A values part whose zstd header declares more than the table.
		"ValuesBomb": {craft3(1, 0, nil, []craftFrame3{{1, uint64(len(codes(1, 0))), 8, declared(t, codes(1, 0)), declared(t, make([]byte, 1<<20))}}), "does not declare"},
		// A values part declared in the table, of more than a frame may be.
		"ValuesSize": {craft3(1, 0, nil, []craftFrame3{{1, uint64(len(codes(1, 0))), auditseg.MaxFrameSize, declared(t, codes(1, 0)), []byte("tiny")}}), "entries in"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auditseg.Decode(tt.b, -1)
			if !errors.Is(err, auditseg.ErrFormat) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Decode()=%v, want ErrFormat saying %q", err, tt.msg)
			}
			// A page reader refuses it too.
			x, err := auditseg.ReadIndex(bytes.NewReader(tt.b), int64(len(tt.b)), -1)
			if err == nil {
				for i := range x.Frames {
					if _, err = x.ReadFrame(bytes.NewReader(tt.b), i); err != nil {
						break
					}
				}
			}
			if !errors.Is(err, auditseg.ErrFormat) {
				t.Fatalf("ReadIndex/ReadFrame()=%v, want ErrFormat", err)
			}
		})
	}
}

// declared returns raw compressed as one zstd frame that declares its
// size, as the encoder writes them.
func declared(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithSingleSegment(true), zstd.WithZeroFrames(true))
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil)
}
