// Package auditseg encodes and decodes sealed audit log segments: the
// immutable files that hold the audit log's closed history (issue 15).
// [store.DB.SealAudit] writes one per segment of the log into the blob
// store, where it is named by the SHA-256 of its bytes like any blob, and
// records it in the audit_segments table.
//
// # Format, version 3
//
// A segment file is a header, then the segment's dictionary, then its
// entries in frames of up to [FrameEntries] consecutive entries. A frame
// decodes on its own with the dictionary: a reader of one page of the
// log decodes the frame that holds it (and the dictionary, which it
// keeps for the next page), not the whole segment. Its parts, in order:
//
//   - the 8-byte magic "BNAUDSEG" and one version byte (3);
//   - the length of the frame table, 4 bytes, little-endian;
//   - the frame table: the number of entries, the first entry's seq, the
//     number of frames, the dictionary's decompressed size and its size
//     in the file (both 0 when there is none), each an unsigned varint
//     (encoding/binary's Uvarint); then for each frame, in order, its
//     number of entries (at least 1), the decompressed size and the size
//     in the file of its first part, and those of its second part (both
//     0 when it has none), unsigned varints, and the prev_hash of its
//     first entry: one byte, 32 or 0, then that many bytes (the SHA-256
//     that audit_log holds in hex; 0 only for the first frame of the log,
//     whose prev_hash is "");
//   - the CRC-32C (Castagnoli) of the frame table, 4 bytes, little-endian;
//   - the dictionary, one zstd frame, if there is one;
//   - the frames, back to back, each its first part then its second,
//     each part one zstd frame: each starts where the one before ends,
//     and nothing follows the last.
//
// The text columns of an entry are, in this order,
//
//	actor_id, actor_name, action, target_type, target_id, detail,
//	remote_addr, remote_user
//
// (the audit_log columns of the same name); a text field, where one is
// written out, is an unsigned varint length, then that many bytes. The
// time is that of at, which audit_log stores as text in
// [bitnobi.TimeFormat] (UTC), hence between the years 0 and 9999 and to
// the nanosecond.
//
// The dictionary, decompressed, holds a table of values for each text
// column, in the order above: the number of values, then each as a text
// field; then, for each of the pairs (actor_id, actor_name), (actor_id,
// remote_addr), (action, target_type) and (target_id, detail), for each
// value of the first column's table in order, the number (from 1) of the
// value of the second column's table that it predicts, or 0 for none, an
// unsigned varint. [Encode] puts in a column's table each value that
// occurs at least twice in that column of the segment, the most frequent
// first, and predicts for a value the one that most often goes with it.
//
// A frame's first part, decompressed, holds: each entry's Unix seconds
// as the difference from the entry before it (from 0 for the first), a
// zig-zag signed varint (encoding/binary's Varint); then each entry's
// nanoseconds, 4 bytes little-endian; then, column after column, each
// entry's code, an unsigned varint. The second part holds, in the same
// order, a text field for each code 0. A code of a column that is the
// second of a pair is 0 for a value that follows in the second part, 1
// for the value the first column's value in the same entry predicts
// (that value must be in its table: its code not 0), and n+1 for value
// n of its table; any other column's code is 0 or n for value n of its
// table.
//
// An entry's hash is not stored: it is [bitnobi.AuditEntry.ComputeHash]
// of its fields and prev_hash, and each entry's prev_hash is the hash of
// the one before it, so a decoder recomputes a frame's hashes from the
// prev_hash the table gives for it. The frame table's prev_hash of a
// frame after the first repeats the hash of the entry before it, which
// lets that frame decode alone; a checker (store.CheckAuditSegment)
// recomputes the hashes of every frame and checks that each link holds
// and that the last hash is the one the segment's index row gives.
//
// The encoding holds no time of writing and no other variable part, and
// frames are cut at every [FrameEntries] entries (or before an entry that
// would take a frame past [MaxFrameSize] as version 2 stores it): sealing
// the same entries twice gives the same bytes, hence the same blob. The
// frame table's checksum and each zstd frame's checksum let a page
// reader, which does not hash the whole file, notice a damaged file too.
//
// Why a dictionary: entries name a few hundred actors and targets again
// and again, and a frame of 512 entries meets most of them for the first
// time, so that zstd stored them in full in every frame (39 to 51 bytes
// an entry on the dev seed's five years of history). Numbered once a
// segment, with the values that go together predicted, the same history
// takes 20.6 bytes an entry: what is left is mostly what no dictionary
// holds (the nanoseconds, run ids) and the dictionary itself (2.9).
//
// # Version 2
//
// Format 5 backups hold segments of version 2 only, and format 6 ones
// (the first to hold version 3) and data directories keep those sealed
// before the upgrade: readers still read it (testdata/v2-1100-entries.seg). It has no
// dictionary: its frame table has neither the dictionary's sizes nor a
// frame's second part, and a frame is one zstd frame that holds, for
// each entry, its seconds (as in version 3) and its nanoseconds (an
// unsigned varint), then, column after column, each entry's text field.
// Version 1 (one zstd frame holding every entry with its hash) was never
// part of a released backup format and is not read.
//
// # Limits
//
// A reader refuses, with an error wrapping [ErrFormat], a file of another
// magic or version, a frame table that does not check, does not add up to
// the file's size or its count of entries, declares another count of
// entries than its index gives, more than [MaxEntries] entries, a frame
// of more than [MaxFrameSize] decompressed bytes or [MaxFrameEntries]
// entries, more than [MaxDecodedSize] decompressed bytes in all, a
// dictionary of more than [MaxDictSize] bytes or [MaxDictStrings] values,
// a zstd frame that does not declare (zstd's frame content size) and
// decompress to the size its table gives, a code or prediction past its
// table, a frame whose entries, decoded, take more than [MaxFrameSize]
// bytes as version 2 stores them (a code may name a long value many
// times) or a file whose entries take more than [MaxDecodedSize], a
// field running past the end, bytes after the last entry of a frame or
// the last value of a dictionary, or a time out of range. It checks
// nothing about the chain beyond recomputing the hashes: that is the
// checker's job.
package auditseg

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi"
)

// Magic starts every segment file.
const Magic = "BNAUDSEG"

// Version is the format version [Encode] writes. Readers read it and
// version 2.
const Version = 3

// FrameEntries is the most entries [Encode] puts in one frame: the unit a
// reader decompresses. Measured in version 2 on the entries of store's
// benchmarks (BenchmarkSegmentBytesPerEntry and BenchmarkAuditPageCold),
// 256, 512 and 1024 gave 30.2, 27.3 and 24.7 bytes an entry on disk, and
// a page of 50 entries from a segment not in the cache 0.7, 1.0 and 1.3
// ms (p50): 512 kept most of the compression of larger frames at little
// cost to a page. Version 3's dictionary holds what frames repeated, so
// that a frame's size matters less: 9.1 bytes an entry there, and 20.6
// on `bitnobi dev seed --size M --history 5` (51.5 in version 2), whose
// entries name more actors and targets and hold random run ids, which
// the benchmarks' lack.
const FrameEntries = 512

// Limits of a decoded segment: a file beyond them is refused rather than
// decoded, so a hostile file cannot make a reader allocate without bound.
const (
	// MaxEntries is the most entries one segment may hold (segments hold
	// 16384 by default).
	MaxEntries = 1 << 20
	// MaxDecodedSize is the most bytes a segment may decompress to, and
	// the largest segment file a reader reads.
	MaxDecodedSize = 256 << 20
	// MaxFrameSize is the most bytes one frame may decompress to, and
	// the most its entries may take decoded: a reader of one frame
	// allocates at most that in version 2, twice that in version 3
	// (its decompressed parts, then the entries' bytes, copied out of
	// them and the dictionary). [Encode] refuses an entry larger than
	// that.
	MaxFrameSize = 4 << 20
	// MaxFrameEntries is the most entries one frame may hold. With
	// MaxFrameSize it bounds what decoding one frame allocates, however
	// well a hostile frame compresses (4 MiB of zeros are 419,430 empty
	// entries in a few hundred bytes).
	MaxFrameEntries = 8 * FrameEntries
	// MaxDictSize is the most bytes a segment's dictionary may
	// decompress to. [Encode] leaves the rarest repeated values out of a
	// dictionary that would be larger (they stay in the frames).
	MaxDictSize = 1 << 20
	// MaxDictStrings is the most strings a segment's dictionary may hold,
	// all columns together: with MaxDictSize it bounds what a decoded
	// dictionary takes in memory (at most 2.5 MiB: its bytes, a string
	// header a value, and 4 bytes for each of a value's predictions, of
	// which an actor_id makes two).
	MaxDictStrings = 1 << 16
)

const (
	// prefixLen is the length of the magic, the version byte and the
	// frame table's length.
	prefixLen = len(Magic) + 1 + 4
	// crcLen is the length of the frame table's checksum.
	crcLen = 4
	// hashLen is the length of a SHA-256.
	hashLen = 32
	// minEntry is the fewest decompressed bytes an entry takes: its time
	// (two varints) and eight empty text fields.
	minEntry = 2 + 8
	// minFrame is the fewest bytes a frame takes in the frame table.
	minFrame = 3 + 1
	// nColumns is the number of text columns.
	nColumns = 8
	// maxSeq is the largest seq a segment may hold.
	maxSeq = 1 << 62
)

// The range of Unix seconds [bitnobi.TimeFormat] can write: the years 0
// to 9999.
var (
	minSec = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxSec = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// ErrFormat means the bytes are not a segment file this package can read.
var ErrFormat = errors.New("not a valid audit segment")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// encoder and decoder are safe for concurrent use by EncodeAll and
	// DecodeAll. EncodeAll runs each call on one of the encoder's
	// GOMAXPROCS pooled states, on the calling goroutine alone, so the
	// output is the same whatever the machine, and concurrent sealers
	// (the seeder's) do not wait for one another. The decoder's memory bound is a frame's:
	// whatever a hostile frame declares, one DecodeAll allocates no more.
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(MaxFrameSize), zstd.WithZeroFrames(true),
		// A single segment always declares its size, which decodeFrame
		// checks before it allocates.
		zstd.WithSingleSegment(true))
	// dictEncoder compresses a segment's dictionary, once a segment, at
	// the frames' level. The best level saved 0.03 bytes an entry on the
	// seeded history (16.77 against 16.80) but each of its pooled states
	// keeps about 35 MiB of match tables for the life of the process: a
	// server's heap held 74 MiB more after its first seal
	// (TestEncodeKeepsLittleMemory).
	dictEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(MaxDictSize), zstd.WithZeroFrames(true),
		zstd.WithSingleSegment(true))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxFrameSize), zstd.WithDecoderMaxWindow(MaxFrameSize))
)

// Encode returns the segment file of entries, which must be given in seq
// order with consecutive seqs and form a chain: each entry's PrevHash is
// the Hash of the entry before it, the first one's is "" or a hex
// SHA-256, and each Hash is [bitnobi.AuditEntry.ComputeHash] of its entry.
// Encode does not recompute the hashes (its callers have checked the
// chain: store's sealer and importer hash each entry once): the file does
// not keep them, a decoder recomputes them, and a wrong one would show as
// a last hash other than the index row's, which a checker refuses. At is
// written in UTC, to the nanosecond.
func Encode(entries []bitnobi.AuditEntry) ([]byte, error) {
	if len(entries) > MaxEntries {
		return nil, fmt.Errorf("encode audit segment: %d entries, more than %d", len(entries), MaxEntries)
	}
	if len(entries) > 0 {
		if p := entries[0].PrevHash; p != "" && !isHash(p) {
			return nil, fmt.Errorf("encode audit segment: entry 0 (seq %d): prev_hash %q is not a hex SHA-256", entries[0].Seq, p)
		}
		if s := entries[0].Seq; s <= 0 || s > maxSeq-int64(len(entries)) {
			return nil, fmt.Errorf("encode audit segment: entry 0 has seq %d", s)
		}
	}
	for i := range entries {
		e := &entries[i]
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return nil, fmt.Errorf("encode audit segment: entry %d has seq %d, not %d", i, e.Seq, entries[i-1].Seq+1)
		}
		if i > 0 && e.PrevHash != entries[i-1].Hash {
			return nil, fmt.Errorf("encode audit segment: entry %d (seq %d) does not follow the one before it", i, e.Seq)
		}
		if s := e.At.Unix(); s < minSec || s > maxSec {
			return nil, fmt.Errorf("encode audit segment: entry %d (seq %d): time %s out of range", i, e.Seq, e.At)
		}
		if !isHash(e.Hash) {
			return nil, fmt.Errorf("encode audit segment: entry %d (seq %d): hash %q is not a hex SHA-256", i, e.Seq, e.Hash)
		}
	}
	// Cut the frames and compress each.
	type frame struct {
		first, n       int
		raw, litRaw    int
		data, literals []byte
	}
	var frames []frame
	var raw, lits []byte
	var total int64
	d := buildDict(entries)
	var dictData []byte
	if len(d.raw) > 0 {
		dictData = dictEncoder.EncodeAll(d.raw, nil)
	}
	for i := 0; i < len(entries); {
		n := 0
		for size := 0; i+n < len(entries) && n < FrameEntries; n++ {
			s := entrySize(&entries[i+n])
			if s > MaxFrameSize {
				return nil, fmt.Errorf("encode audit segment: entry %d (seq %d) takes %d bytes, more than %d", i+n, entries[i+n].Seq, s, MaxFrameSize)
			}
			if size+s > MaxFrameSize {
				break
			}
			size += s
		}
		raw, lits = d.appendFrame(raw[:0], lits[:0], entries[i:i+n])
		f := frame{first: i, n: n, raw: len(raw), data: encoder.EncodeAll(raw, nil), litRaw: len(lits)}
		if len(lits) > 0 {
			f.literals = encoder.EncodeAll(lits, nil)
		}
		frames = append(frames, f)
		total += int64(plainSize(entries[i : i+n]))
		i += n
	}
	var table []byte
	table = binary.AppendUvarint(table, uint64(len(entries)))
	if len(entries) > 0 {
		table = binary.AppendUvarint(table, uint64(entries[0].Seq))
	} else {
		table = binary.AppendUvarint(table, 0)
	}
	table = binary.AppendUvarint(table, uint64(len(frames)))
	table = binary.AppendUvarint(table, uint64(len(d.raw)))
	table = binary.AppendUvarint(table, uint64(len(dictData)))
	size := len(dictData)
	for _, f := range frames {
		table = binary.AppendUvarint(table, uint64(f.n))
		table = binary.AppendUvarint(table, uint64(f.raw))
		table = binary.AppendUvarint(table, uint64(len(f.data)))
		table = binary.AppendUvarint(table, uint64(f.litRaw))
		table = binary.AppendUvarint(table, uint64(len(f.literals)))
		p := entries[f.first].PrevHash
		if p == "" {
			table = append(table, 0)
		} else {
			table = append(table, hashLen)
			table = append(table, make([]byte, hashLen)...)
			_, _ = hex.Decode(table[len(table)-hashLen:], []byte(p)) // checked above
		}
		size += len(f.data) + len(f.literals)
	}
	out := make([]byte, 0, prefixLen+len(table)+crcLen+size)
	out = append(out, Magic...)
	out = append(out, Version)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(table)))
	out = append(out, table...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(table, castagnoli))
	out = append(out, dictData...)
	for _, f := range frames {
		out = append(out, f.data...)
		out = append(out, f.literals...)
	}
	if total > MaxDecodedSize {
		return nil, fmt.Errorf("encode audit segment: %d bytes, more than %d", total, MaxDecodedSize)
	}
	return out, nil
}

// isHash reports whether s is a hex SHA-256 as audit_log holds them: 64
// lowercase hex digits.
func isHash(s string) bool {
	if len(s) != 2*hashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// columns returns e's text fields in the order a frame stores them.
func columns(e *bitnobi.AuditEntry) [8]*string {
	return [...]*string{&e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser}
}

// entrySize returns the most bytes e takes in a decompressed frame.
func entrySize(e *bitnobi.AuditEntry) int {
	n := 2 * binary.MaxVarintLen64
	for _, p := range columns(e) {
		n += binary.MaxVarintLen64 + len(*p)
	}
	return n
}

// plainSize returns the size of entries in a frame of version 2, which
// stores every value in full: what they take in memory, decoded, give
// or take the strings' headers, and what [MaxFrameSize] and
// [MaxDecodedSize] bound in every version.
func plainSize(entries []bitnobi.AuditEntry) int {
	n := len(appendTimes(nil, entries))
	for i := range entries {
		for _, p := range columns(&entries[i]) {
			n += uvarintLen(uint64(len(*p))) + len(*p)
		}
	}
	return n
}

// uvarintLen returns the length of x as an unsigned varint.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// appendTimes appends the time column of entries to b.
func appendTimes(b []byte, entries []bitnobi.AuditEntry) []byte {
	var prev int64
	for i := range entries {
		t := entries[i].At
		b = binary.AppendVarint(b, t.Unix()-prev)
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		prev = t.Unix()
	}
	return b
}

// encDict is the dictionary [Encode] builds for a segment: for each
// column, the strings it holds, numbered from 1; for each pair of
// [predicted], the value of the second column that goes with each value
// of the first, by number (0 for none); and the dictionary's
// decompressed bytes.
type encDict struct {
	index [nColumns]map[string]uint64
	pred  [len(predicted)][]uint64
	raw   []byte
}

// predicted are the pairs of columns, by number, of which the first
// predicts the second: in a segment, an actor's id goes with one name
// and one address, an action with one target type, a data source's id
// with one detail (its name and owner). A column's code 1 names the
// value its dictionary gives for the first column's value in the same
// entry: a code that costs next to nothing. Each first column comes
// before its second, so that a decoder knows its value first.
var predicted = [...][2]int{{0, 1}, {0, 6}, {2, 3}, {4, 5}}

// predictor returns the number of the pair of [predicted] whose second
// column is k, or -1.
func predictor(k int) int {
	for p, kv := range predicted {
		if kv[1] == k {
			return p
		}
	}
	return -1
}

// buildDict returns the dictionary of entries: in each column, every
// value that occurs at least twice in the segment (a value met once
// costs less in its frame), the most frequent first so that they take
// one-byte numbers, ties in order of first occurrence, which keeps the
// numbers of values that go together (a user's id, name and address) in
// step from column to column, so that zstd finds the columns' runs of
// numbers alike. When they would take more than [MaxDictSize] bytes or
// [MaxDictStrings] strings, the rarest are left out. The result is a
// function of the entries alone.
func buildDict(entries []bitnobi.AuditEntry) *encDict {
	type value struct {
		s          string
		col, count int
		first      int
	}
	var vals []value
	for k := range nColumns {
		at := map[string]int{}
		for i := range entries {
			s := *columns(&entries[i])[k]
			if j, ok := at[s]; ok {
				vals[j].count++
			} else {
				at[s] = len(vals)
				vals = append(vals, value{s: s, col: k, count: 1, first: i})
			}
		}
	}
	vals = slices.DeleteFunc(vals, func(v value) bool { return v.count < 2 })
	// (col, first) is unique: the orders are total, hence the result
	// the same whatever the sort.
	slices.SortFunc(vals, func(a, b value) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.col, b.col); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	})
	// A string takes its length and bytes, and at most two predictions
	// of three bytes (codes are less than MaxDictStrings).
	size, n := nColumns*binary.MaxVarintLen32, 0
	for _, v := range vals {
		size += binary.MaxVarintLen32 + 2*3 + len(v.s)
		if size > MaxDictSize || n == MaxDictStrings {
			break
		}
		n++
	}
	vals = vals[:n]
	d := &encDict{}
	if n == 0 {
		return d
	}
	// Within a column, in the order above: a stable sort by column keeps
	// each column's values by count, then first use.
	slices.SortStableFunc(vals, func(a, b value) int { return cmp.Compare(a.col, b.col) })
	for k := range nColumns {
		d.index[k] = map[string]uint64{}
		lo := 0
		for lo < len(vals) && vals[lo].col < k {
			lo++
		}
		hi := lo
		for hi < len(vals) && vals[hi].col == k {
			hi++
		}
		d.raw = binary.AppendUvarint(d.raw, uint64(hi-lo))
		for j, v := range vals[lo:hi] {
			d.index[k][v.s] = uint64(j + 1)
			d.raw = append(binary.AppendUvarint(d.raw, uint64(len(v.s))), v.s...)
		}
	}
	// Each value of a first column predicts the value of the second that
	// goes with it most often (the lowest number on a tie).
	for p, kv := range predicted {
		counts := make([]map[uint64]int, len(d.index[kv[0]])+1)
		for i := range entries {
			key := d.index[kv[0]][*columns(&entries[i])[kv[0]]]
			val := d.index[kv[1]][*columns(&entries[i])[kv[1]]]
			if key == 0 || val == 0 {
				continue
			}
			if counts[key] == nil {
				counts[key] = map[uint64]int{}
			}
			counts[key][val]++
		}
		d.pred[p] = make([]uint64, len(counts))
		for key := 1; key < len(counts); key++ {
			best, most := uint64(0), 0
			for val, c := range counts[key] {
				if c > most || (c == most && val < best) {
					best, most = val, c
				}
			}
			d.pred[p][key] = best
			d.raw = binary.AppendUvarint(d.raw, best)
		}
	}
	return d
}

// code returns the code of column k of entry i of entries.
func (d *encDict) code(entries []bitnobi.AuditEntry, i, k int) uint64 {
	c := d.index[k][*columns(&entries[i])[k]]
	p := predictor(k)
	if p < 0 || c == 0 {
		return c
	}
	if key := d.index[predicted[p][0]][*columns(&entries[i])[predicted[p][0]]]; key != 0 && d.pred[p][key] == c {
		return 1
	}
	return c + 1
}

// appendFrame appends the two decompressed parts of the frame of
// entries, in version 3, to cols and lits: first the seconds of the
// times, then their nanoseconds, then the text columns' codes; then the
// values no code names (see the package documentation). Like goes with
// like, and each part is a zstd frame of its own, whose entropy coding
// of literals (one table a block) fits it: ids in hex and JSON in one,
// small numbers in the other.
func (d *encDict) appendFrame(cols, lits []byte, entries []bitnobi.AuditEntry) ([]byte, []byte) {
	var prev int64
	for i := range entries {
		t := entries[i].At
		cols = binary.AppendVarint(cols, t.Unix()-prev)
		prev = t.Unix()
	}
	for i := range entries {
		cols = binary.LittleEndian.AppendUint32(cols, uint32(entries[i].At.Nanosecond()))
	}
	for k := range nColumns {
		for i := range entries {
			n := d.code(entries, i, k)
			cols = binary.AppendUvarint(cols, n)
			if n == 0 {
				s := *columns(&entries[i])[k]
				lits = append(binary.AppendUvarint(lits, uint64(len(s))), s...)
			}
		}
	}
	return cols, lits
}

// Index is the frame table of a segment file: where each frame is and
// which entries it holds.
type Index struct {
	Version  int   // of the file's format: 2 or 3
	Entries  int   // in the segment
	FirstSeq int64 // the first entry's seq (0 when it holds none)
	Frames   []Frame
	Size     int64 // of the file

	// Where the dictionary is (version 3; dictSize is 0 when there is
	// none), and the dictionary once [Index.ReadFrame] has read it: see
	// [dictCache].
	dictOffset        int64
	dictSize, dictRaw int
	dict              atomic.Pointer[dict]
}

// Frame is one frame of a segment file.
type Frame struct {
	FirstSeq int64 // its first entry's seq
	Entries  int
	// PrevHash is its first entry's PrevHash: the hash of the entry before
	// it, or "" at the start of the log.
	PrevHash string
	Offset   int64 // of its bytes in the file
	Size     int   // of its bytes in the file
	RawSize  int   // decompressed

	// Version 3: the size of its second part, its values named by no
	// code, in the file (0 when it has none) and decompressed.
	litSize, litRaw int
}

// ReadIndex reads the frame table of the segment file of size bytes that
// r holds, reading only the table. want is the number of entries the
// file must hold (the segment's index row says), or -1 for any number: a
// file that declares another count is refused, as is one that declares
// more than the limits allow. Errors other than r's wrap [ErrFormat].
func ReadIndex(r io.ReaderAt, size int64, want int64) (*Index, error) {
	if size < int64(prefixLen+crcLen) {
		return nil, fmt.Errorf("%w: no segment header", ErrFormat)
	}
	if size > MaxDecodedSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, size, MaxDecodedSize)
	}
	var prefix [prefixLen]byte
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("read segment header: %w", err)
	}
	if string(prefix[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: no segment header", ErrFormat)
	}
	v := prefix[len(Magic)]
	if v != 2 && v != Version {
		return nil, fmt.Errorf("%w: version %d, this build reads versions 2 and %d", ErrFormat, v, Version)
	}
	n := int64(binary.LittleEndian.Uint32(prefix[len(Magic)+1:]))
	if n > size-int64(prefixLen+crcLen) {
		return nil, fmt.Errorf("%w: a frame table of %d bytes in a file of %d", ErrFormat, n, size)
	}
	table := make([]byte, n+crcLen)
	if _, err := r.ReadAt(table, int64(prefixLen)); err != nil {
		return nil, fmt.Errorf("read segment header: %w", err)
	}
	if got, want := crc32.Checksum(table[:n], castagnoli), binary.LittleEndian.Uint32(table[n:]); got != want {
		return nil, fmt.Errorf("%w: the frame table's checksum does not match (the file is damaged)", ErrFormat)
	}
	return parseTable(int(v), table[:n], size, int64(prefixLen)+n+crcLen, want)
}

// parseTable parses the frame table of a file of the given version and
// of size bytes whose dictionary (version 3) or first frame starts at
// offset start.
func parseTable(version int, table []byte, size, start, want int64) (*Index, error) {
	rd := reader{s: unsafe.String(unsafe.SliceData(table), len(table))}
	entries, first, frames := rd.uvarint(), rd.uvarint(), rd.uvarint()
	var dictRaw, dictSize uint64
	if version >= 3 {
		dictRaw, dictSize = rd.uvarint(), rd.uvarint()
	}
	if rd.err != nil {
		return nil, rd.err
	}
	switch {
	case entries > MaxEntries:
		return nil, fmt.Errorf("%w: %d entries, more than %d", ErrFormat, entries, MaxEntries)
	case want >= 0 && entries != uint64(want):
		return nil, fmt.Errorf("%w: holds %d entries, not the %d indexed", ErrFormat, entries, want)
	case entries > 0 && (first == 0 || first > maxSeq-entries):
		return nil, fmt.Errorf("%w: first seq %d", ErrFormat, first)
	case entries == 0 && first != 0:
		return nil, fmt.Errorf("%w: first seq %d of no entries", ErrFormat, first)
	case frames > entries || frames > uint64(len(table))/minFrame:
		return nil, fmt.Errorf("%w: %d frames for %d entries", ErrFormat, frames, entries)
	case dictRaw > MaxDictSize:
		return nil, fmt.Errorf("%w: a dictionary of %d bytes, more than %d", ErrFormat, dictRaw, MaxDictSize)
	case (dictRaw == 0) != (dictSize == 0) || (dictRaw > 0 && dictRaw < nColumns):
		return nil, fmt.Errorf("%w: a dictionary of %d bytes in %d", ErrFormat, dictRaw, dictSize)
	case dictSize > uint64(size-start):
		return nil, fmt.Errorf("%w: a dictionary of %d bytes past the end of the file", ErrFormat, dictSize)
	}
	x := &Index{Version: version, Entries: int(entries), FirstSeq: int64(first), Frames: make([]Frame, frames), Size: size,
		dictOffset: start, dictSize: int(dictSize), dictRaw: int(dictRaw)}
	seq, off, raw := int64(first), start+int64(dictSize), int64(0)
	for i := range x.Frames {
		f := &x.Frames[i]
		k, rs, fs := rd.uvarint(), rd.uvarint(), rd.uvarint()
		var lr, ls uint64
		if version >= 3 {
			lr, ls = rd.uvarint(), rd.uvarint()
		}
		hl := rd.bytes(1)
		if rd.err != nil {
			return nil, rd.err
		}
		switch {
		case hl[0] == 0 && i > 0:
			return nil, fmt.Errorf("%w: frame %d: no prev_hash", ErrFormat, i)
		case hl[0] != 0 && hl[0] != hashLen:
			return nil, fmt.Errorf("%w: frame %d: prev_hash of %d bytes", ErrFormat, i, hl[0])
		}
		h := rd.bytes(int(hl[0]))
		if rd.err != nil {
			return nil, rd.err
		}
		switch {
		case k == 0 || k > MaxFrameEntries || k > entries-uint64(seq-int64(first)):
			return nil, fmt.Errorf("%w: frame %d: %d entries", ErrFormat, i, k)
		case rs > MaxFrameSize || rs < k*minEntry:
			return nil, fmt.Errorf("%w: frame %d: %d entries in %d bytes", ErrFormat, i, k, rs)
		case lr > MaxFrameSize-rs || (lr == 0) != (ls == 0):
			return nil, fmt.Errorf("%w: frame %d: %d entries in %d and %d bytes", ErrFormat, i, k, rs, lr)
		case fs == 0 || fs > uint64(size-off) || ls > uint64(size-off)-fs:
			return nil, fmt.Errorf("%w: frame %d: %d bytes past the end of the file", ErrFormat, i, fs+ls)
		}
		f.FirstSeq, f.Entries, f.RawSize, f.Offset, f.Size = seq, int(k), int(rs), off, int(fs+ls)
		f.litRaw, f.litSize = int(lr), int(ls)
		if h != "" {
			f.PrevHash = hex.EncodeToString(unsafe.Slice(unsafe.StringData(h), len(h)))
		}
		seq += int64(k)
		off += int64(fs + ls)
		raw += int64(rs + lr)
	}
	switch {
	case rd.off != len(rd.s):
		return nil, fmt.Errorf("%w: %d bytes after the frame table", ErrFormat, len(rd.s)-rd.off)
	case seq-int64(first) != int64(entries):
		return nil, fmt.Errorf("%w: frames hold %d entries, not %d", ErrFormat, seq-int64(first), entries)
	case off != size:
		return nil, fmt.Errorf("%w: frames end at byte %d of %d", ErrFormat, off, size)
	case raw > MaxDecodedSize:
		return nil, fmt.Errorf("%w: declares %d bytes, more than %d", ErrFormat, raw, MaxDecodedSize)
	}
	return x, nil
}

// Find returns the index of the frame that holds seq, or of the first
// frame after it, or len(x.Frames) when no frame holds seq or later.
func (x *Index) Find(seq int64) int {
	lo, hi := 0, len(x.Frames)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		f := &x.Frames[m]
		if f.FirstSeq+int64(f.Entries) <= seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// dict is a decoded dictionary: each column's strings, which share the
// memory of one decompressed buffer.
type dict struct {
	cols [nColumns][]string
	// pred holds, for each pair of [predicted], the number of the
	// second column's value that each value of the first predicts (0
	// for none), by the first's number.
	pred [len(predicted)][]uint32
	mem  int // bytes it holds, roughly
}

// dictCacheSize is the most bytes of dictionaries that the Indexes of
// this process hold at once (see [dictCache]).
const dictCacheSize = 8 << 20

// dictCache bounds the memory that dictionaries take: [Index.ReadFrame]
// keeps the dictionary it reads in its Index, so that the next frame of
// the same segment decodes without reading it again, and registers the
// Index here; when the dictionaries held pass dictCacheSize, the oldest
// are dropped from their Indexes (read again when needed). A store
// keeps many Indexes (frame tables are small), but never more than
// dictCacheSize plus one dictionary's bytes (at most 2.5 MiB) of
// dictionaries; a segment of M's seeded history has one of about 280
// KiB (195 KiB of values, 47 KiB in the file), so about 30 are held.
// Decoded entries never share a dictionary's memory.
var dictCache struct {
	mu    sync.Mutex
	held  []*Index // oldest first
	bytes int
}

// dictFor returns x's dictionary (nil when it has none), read from r
// when x does not hold it, and keeps it in x.
func (x *Index) dictFor(r io.ReaderAt) (*dict, error) {
	if x.dictSize == 0 {
		return nil, nil
	}
	if d := x.dict.Load(); d != nil {
		return d, nil
	}
	d, err := x.readDict(r)
	if err != nil {
		return nil, err
	}
	c := &dictCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if held := x.dict.Load(); held != nil {
		return held, nil // read meanwhile by another goroutine
	}
	x.dict.Store(d)
	c.held = append(c.held, x)
	c.bytes += d.mem
	for c.bytes > dictCacheSize && len(c.held) > 1 {
		old := c.held[0]
		c.bytes -= old.dict.Swap(nil).mem
		c.held[0] = nil
		c.held = c.held[1:]
	}
	return d, nil
}

// readDict reads and decodes x's dictionary from r. Errors other than
// r's wrap [ErrFormat].
func (x *Index) readDict(r io.ReaderAt) (*dict, error) {
	if x.dictSize == 0 {
		return nil, nil
	}
	b := make([]byte, x.dictSize)
	if _, err := r.ReadAt(b, x.dictOffset); err != nil {
		return nil, fmt.Errorf("read segment dictionary: %w", err)
	}
	raw, err := decompress(b, x.dictRaw, nil)
	if err != nil {
		return nil, fmt.Errorf("dictionary: %w", err)
	}
	// The strings share raw, as a frame's fields share theirs.
	rd := reader{s: unsafe.String(unsafe.SliceData(raw), len(raw))}
	d := &dict{mem: len(raw)}
	n := 0
	for k := range d.cols {
		c := rd.uvarint()
		if rd.err != nil {
			return nil, fmt.Errorf("dictionary: %w", rd.err)
		}
		// Each string takes a byte at least: check before allocating.
		if c > uint64(len(rd.s)-rd.off) || c > uint64(MaxDictStrings-n) {
			return nil, fmt.Errorf("%w: dictionary: column %d: %d strings, more than it may hold", ErrFormat, k, c)
		}
		n += int(c)
		d.cols[k] = make([]string, c)
		for i := range d.cols[k] {
			d.cols[k][i] = rd.field()
		}
		d.mem += int(c) * int(unsafe.Sizeof(""))
	}
	for p, kv := range predicted {
		d.pred[p] = make([]uint32, len(d.cols[kv[0]])+1)
		for key := 1; key < len(d.pred[p]); key++ {
			v := rd.uvarint()
			if v > uint64(len(d.cols[kv[1]])) {
				return nil, fmt.Errorf("%w: dictionary: column %d predicts value %d of column %d, of %d", ErrFormat, kv[0], v, kv[1], len(d.cols[kv[1]]))
			}
			d.pred[p][key] = uint32(v)
		}
		d.mem += 4 * len(d.pred[p])
	}
	if rd.err != nil {
		return nil, fmt.Errorf("dictionary: %w", rd.err)
	}
	if rd.off != len(rd.s) {
		return nil, fmt.Errorf("%w: dictionary: %d bytes after its last string", ErrFormat, len(rd.s)-rd.off)
	}
	return d, nil
}

// ReadFrame reads frame i of the segment file r holds and decodes it, as
// [Index.DecodeFrame] does. For a file of version 3 it reads the
// segment's dictionary too, unless x holds it from an earlier call.
func (x *Index) ReadFrame(r io.ReaderAt, i int) ([]bitnobi.AuditEntry, error) {
	d, err := x.dictFor(r)
	if err != nil {
		return nil, err
	}
	f := &x.Frames[i]
	b := make([]byte, f.Size)
	if _, err := r.ReadAt(b, f.Offset); err != nil {
		return nil, fmt.Errorf("read segment frame %d: %w", i, err)
	}
	es := make([]bitnobi.AuditEntry, f.Entries)
	if _, err := decodeFrame(f, b, es, d, x.Version); err != nil {
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	return es, nil
}

// DecodeFrame decodes frame i, whose bytes in the file are b, and returns
// its entries with their hashes computed: from the frame's PrevHash on,
// each entry's Hash is [bitnobi.AuditEntry.ComputeHash] and the next
// one's PrevHash. The entries' strings share memory with each other: a
// few large allocations, not one per field. A frame of version 3 needs
// its segment's dictionary, which r holds as it holds the file (read
// only when x does not hold it already). Errors wrap [ErrFormat], or
// are r's.
func (x *Index) DecodeFrame(r io.ReaderAt, i int, b []byte) ([]bitnobi.AuditEntry, error) {
	es, _, err := x.DecodeFrameFieldsInto(r, i, b, nil, nil)
	if err != nil {
		return nil, err
	}
	x.HashFrame(i, es)
	return es, nil
}

// DecodeFrameFieldsInto decodes frame i, whose bytes in the file r holds
// are b, with every check of [Index.DecodeFrame], but computes no hash:
// the entries have their Seq, At and text fields, and an empty PrevHash
// and Hash until [Index.HashFrame] sets them. Hashing was most of the
// cost of decoding a frame, so a reader that looks for the entries
// matching a filter hashes only the frames that hold one it returns.
//
// It decodes into the memory of es and buf where they have room, rather
// than new memory: the entries in es (if its capacity is at least the
// frame's Entries), the bytes the entries' strings share in buf; nil for
// new memory. It returns the entries and the buffer that holds their
// bytes, so that a reader that keeps neither (a frame with no entry it
// wants) may decode the next frame into them; the entries' strings
// change when it does. Errors wrap [ErrFormat], or are r's.
func (x *Index) DecodeFrameFieldsInto(r io.ReaderAt, i int, b []byte, es []bitnobi.AuditEntry, buf []byte) ([]bitnobi.AuditEntry, []byte, error) {
	d, err := x.dictFor(r)
	if err != nil {
		return nil, nil, err
	}
	f := &x.Frames[i]
	if cap(es) < f.Entries {
		es = make([]bitnobi.AuditEntry, f.Entries)
	} else {
		es = es[:f.Entries]
		clear(es)
	}
	_, buf, err = decodeFields(f, b, es, d, x.Version, buf)
	if err != nil {
		return nil, nil, fmt.Errorf("frame %d: %w", i, err)
	}
	return es, buf, nil
}

// HashFrame sets the PrevHash and Hash of es, the entries of frame i as
// [Index.DecodeFrameFieldsInto] returns them, or the first ones of them, as
// [Index.DecodeFrame] does: from the frame's PrevHash on, each entry's
// Hash is [bitnobi.AuditEntry.ComputeHash] and the next one's PrevHash.
// It checks nothing: comparing the last hash with what follows the frame
// (the next frame's PrevHash, or the segment's last hash) is the
// caller's choice.
func (x *Index) HashFrame(i int, es []bitnobi.AuditEntry) {
	HashChain(x.Frames[i].PrevHash, es)
}

// HashChain sets the PrevHash and Hash of es, consecutive entries of the
// log whose fields are set: the first one's PrevHash is prev, each one's
// Hash is [bitnobi.AuditEntry.ComputeHash] and the next one's PrevHash. A
// reader that needs the hashes of a frame's first entries only hashes
// those with [Index.HashFrame], and may go on later from the last one's
// Hash.
func HashChain(prev string, es []bitnobi.AuditEntry) {
	// The hashes share one buffer, as the fields share theirs.
	hexes := make([]byte, 0, 2*hashLen*len(es))
	for i := range es {
		e := &es[i]
		e.PrevHash = prev
		n := len(hexes)
		hexes = e.AppendHash(hexes)
		e.Hash = unsafe.String(&hexes[n], len(hexes)-n)
		prev = e.Hash
	}
}

// decompress returns the zstd frame b decompressed, which must declare
// and hold exactly size bytes, into dst if it has room for them (new
// memory if not).
func decompress(b []byte, size int, dst []byte) ([]byte, error) {
	// The decoder allocates the size the frame declares: check it first
	// (the decoder's own bound is MaxFrameSize).
	var h zstd.Header
	if err := h.Decode(b); err != nil {
		return nil, fmt.Errorf("%w: frame header: %v", ErrFormat, err)
	}
	if !h.HasFCS || h.FrameContentSize != uint64(size) {
		return nil, fmt.Errorf("%w: does not declare its %d bytes", ErrFormat, size)
	}
	if cap(dst) < size {
		dst = make([]byte, 0, size)
	}
	raw, err := decoder.DecodeAll(b, dst[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrFormat, err)
	}
	if len(raw) != size {
		return nil, fmt.Errorf("%w: %d bytes, not %d", ErrFormat, len(raw), size)
	}
	return raw, nil
}

// decodeFrame decodes the frame f of bytes b, of a file of the given
// version whose dictionary is d, into es, which has room for exactly its
// entries, computes their hashes, and returns the frame's size in
// version 2 (see plainSize): what its entries take decoded.
func decodeFrame(f *Frame, b []byte, es []bitnobi.AuditEntry, d *dict, version int) (int, error) {
	size, _, err := decodeFields(f, b, es, d, version, nil)
	if err != nil {
		return 0, err
	}
	HashChain(f.PrevHash, es)
	return size, nil
}

// decodeFields decodes the frame f of bytes b as [decodeFrame] does, but
// for the entries' PrevHash and Hash, into the bytes of buf if it has
// room (new memory if not). It returns the frame's size in version 2 and
// the buffer the entries' strings share.
func decodeFields(f *Frame, b []byte, es []bitnobi.AuditEntry, d *dict, version int, buf []byte) (int, []byte, error) {
	if len(b) != f.Size {
		return 0, nil, fmt.Errorf("%w: %d bytes, not %d", ErrFormat, len(b), f.Size)
	}
	var codes []byte
	if version < 3 {
		codes = buf // version 2's fields are slices of the decompressed bytes
	}
	raw, err := decompress(b[:f.Size-f.litSize], f.RawSize, codes)
	if err != nil {
		return 0, nil, err
	}
	// One string holds every field: each is a slice of it, not an
	// allocation of its own. raw is not used otherwise, nor changed, so
	// the string can share its bytes rather than copy them.
	r := reader{s: unsafe.String(unsafe.SliceData(raw), len(raw))}
	size := len(raw)
	if version < 3 {
		if err := decodeTimes(&r, f, es, ""); err != nil {
			return 0, nil, err
		}
		for k := range nColumns {
			for i := range es {
				*columns(&es[i])[k] = r.field()
			}
		}
		buf = raw
	} else {
		lits := reader{}
		if f.litSize > 0 {
			b, err := decompress(b[f.Size-f.litSize:], f.litRaw, nil)
			if err != nil {
				return 0, nil, fmt.Errorf("values: %w", err)
			}
			lits.s = unsafe.String(unsafe.SliceData(b), len(b))
		}
		if size, buf, err = decodeFrameV3(&r, &lits, f, es, d, buf); err != nil {
			return 0, nil, err
		}
		if lits.off != len(lits.s) {
			return 0, nil, fmt.Errorf("%w: %d bytes after the last value", ErrFormat, len(lits.s)-lits.off)
		}
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	if r.off != len(r.s) {
		return 0, nil, fmt.Errorf("%w: %d bytes after the last entry", ErrFormat, len(r.s)-r.off)
	}
	return size, buf, nil
}

// decodeTimes reads the times of es from r: each a zig-zag varint of
// seconds from the entry before, then its nanoseconds: an unsigned
// varint that follows (version 2, nanos ""), or 4 bytes little-endian
// from nanos (version 3).
func decodeTimes(r *reader, f *Frame, es []bitnobi.AuditEntry, nanos string) error {
	var sec int64
	for i := range es {
		dt := r.varint()
		var ns uint64
		if nanos == "" {
			ns = r.uvarint()
		} else {
			n := nanos[4*i:]
			ns = uint64(n[0]) | uint64(n[1])<<8 | uint64(n[2])<<16 | uint64(n[3])<<24
		}
		if r.err != nil {
			return r.err
		}
		// sec is 0 or within [minSec, maxSec], so neither side overflows.
		if dt < minSec-sec || dt > maxSec-sec || ns >= 1e9 {
			return fmt.Errorf("%w: entry %d (seq %d): time out of range", ErrFormat, i, f.FirstSeq+int64(i))
		}
		sec += dt
		es[i].Seq = f.FirstSeq + int64(i)
		es[i].At = time.Unix(sec, int64(ns)).UTC()
	}
	return nil
}

// decodeFrameV3 decodes the decompressed frame of version 3 that r (its
// times and codes) and lits (the values no code names) hold into es,
// with the dictionary d, and returns the frame's size in
// version 2, which may not pass [MaxFrameSize] (as in version 2): a
// frame that names a long value of the dictionary many times is refused
// before it is copied. The fields are copied into one buffer, so that
// entries never hold a dictionary's memory: buf's if it has room (new
// memory if not), which it returns.
func decodeFrameV3(r, lits *reader, f *Frame, es []bitnobi.AuditEntry, d *dict, buf []byte) (int, []byte, error) {
	n := len(es)
	// The columns, back to back: skip each to find the next.
	seconds := *r
	for range n {
		r.uvarint()
	}
	size := r.off - seconds.off
	nanos := r.bytes(4 * n)
	if r.err != nil {
		return 0, nil, r.err
	}
	if err := decodeTimes(&seconds, f, es, nanos); err != nil {
		return 0, nil, err
	}
	for i := range es {
		size += uvarintLen(uint64(es[i].At.Nanosecond()))
	}
	// The codes of the columns that predict others, as they are read.
	var keys [nColumns][]uint32
	for _, kv := range predicted {
		if keys[kv[0]] == nil {
			keys[kv[0]] = make([]uint32, n)
		}
	}
	for k := range nColumns {
		var tab []string
		var pred []uint32
		var key []uint32
		shift := uint64(0)
		if p := predictor(k); p >= 0 {
			key, shift = keys[predicted[p][0]], 1
			if d != nil {
				pred = d.pred[p]
			}
		}
		if d != nil {
			tab = d.cols[k]
		}
		for i := range es {
			var s string
			c := r.uvarint()
			if keys[k] != nil && c <= uint64(len(tab)) {
				keys[k][i] = uint32(c)
			}
			switch {
			case c == 0:
				s = lits.field()
			case c == 1 && shift == 1:
				// Predicted by the key column's value, when it is the
				// dictionary's (its code is then 1 or more).
				if key[i] == 0 || pred[key[i]] == 0 {
					return 0, nil, fmt.Errorf("%w: entry %d: column %d names the value its column %d predicts, which predicts none", ErrFormat, i, k, predicted[predictor(k)][0])
				}
				s = tab[pred[key[i]]-1]
			case c-shift <= uint64(len(tab)):
				s = tab[c-shift-1]
			default:
				return 0, nil, fmt.Errorf("%w: entry %d: column %d names value %d of a dictionary of %d", ErrFormat, i, k, c-shift, len(tab))
			}
			if r.err != nil {
				return 0, nil, r.err
			}
			if lits.err != nil {
				return 0, nil, lits.err
			}
			size += uvarintLen(uint64(len(s))) + len(s)
			if size > MaxFrameSize {
				return 0, nil, fmt.Errorf("%w: entries of more than %d bytes", ErrFormat, MaxFrameSize)
			}
			*columns(&es[i])[k] = s
		}
	}
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	buf = buf[:0]
	for i := range es {
		for _, p := range columns(&es[i]) {
			m := len(buf)
			buf = append(buf, *p...)
			*p = unsafe.String(unsafe.SliceData(buf[m:]), len(*p))
		}
	}
	return size, buf, nil
}

// Decode returns the entries of the segment file data, in the order they
// were encoded, decoding every frame (see [Index.DecodeFrame]): each
// frame's first entry has the PrevHash the frame table gives, which a
// checker compares with the hash of the entry before it. want is the
// number of entries the file must hold, or -1 for any number, as for
// [ReadIndex]. It holds every entry at once, at most [MaxDecodedSize]
// bytes: [Scan] holds one frame at a time. Errors wrap [ErrFormat].
func Decode(data []byte, want int64) ([]bitnobi.AuditEntry, error) {
	var es []bitnobi.AuditEntry
	err := scan(data, want, func(x *Index, fes []bitnobi.AuditEntry) error {
		if es == nil {
			es = make([]bitnobi.AuditEntry, 0, x.Entries)
		}
		es = append(es, fes...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if es == nil {
		es = []bitnobi.AuditEntry{}
	}
	return es, nil
}

// Scan decodes the segment file data frame after frame, as [Decode]
// does, and calls fn with each frame's entries in order; it stops at
// fn's first error and returns it. The slice given to fn is valid until
// fn returns (Scan reuses it; the strings in it stay valid), so Scan
// holds one frame at a time: at most [MaxFrameSize] bytes and
// [MaxFrameEntries] entries, whatever the file declares, and the
// segment's dictionary.
func Scan(data []byte, want int64, fn func(es []bitnobi.AuditEntry) error) error {
	return scan(data, want, func(_ *Index, es []bitnobi.AuditEntry) error { return fn(es) })
}

// scan decodes data frame after frame, into one slice of entries it
// reuses, and calls fn with each frame's. It reads the dictionary
// itself: a pass over a whole file does not take a place in
// [dictCache]. The frames, in version 2 sizes, may not add up to more
// than [MaxDecodedSize].
func scan(data []byte, want int64, fn func(x *Index, es []bitnobi.AuditEntry) error) error {
	x, err := ReadIndex(sliceReader(data), int64(len(data)), want)
	if err != nil {
		return err
	}
	d, err := x.readDict(sliceReader(data))
	if err != nil {
		return err
	}
	var buf []bitnobi.AuditEntry
	total := 0
	for i := range x.Frames {
		f := &x.Frames[i]
		if cap(buf) < f.Entries {
			buf = make([]bitnobi.AuditEntry, f.Entries)
		}
		es := buf[:f.Entries]
		clear(es)
		n, err := decodeFrame(f, data[f.Offset:f.Offset+int64(f.Size)], es, d, x.Version)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if total += n; total > MaxDecodedSize {
			return fmt.Errorf("%w: entries of more than %d bytes", ErrFormat, MaxDecodedSize)
		}
		if err := fn(x, es); err != nil {
			return err
		}
	}
	return nil
}

// sliceReader reads a byte slice at offsets, without copying it as a
// bytes.Reader would not either, but with no state.
type sliceReader []byte

func (s sliceReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(s)) {
		return 0, io.EOF
	}
	n := copy(p, s[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// reader reads varints and fields from s, keeping the first error.
type reader struct {
	s   string
	off int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; ; i++ {
		if r.off >= len(r.s) {
			r.err = fmt.Errorf("%w: truncated", ErrFormat)
			return 0
		}
		b := r.s[r.off]
		r.off++
		if i == binary.MaxVarintLen64 || (i == binary.MaxVarintLen64-1 && b > 1) {
			r.err = fmt.Errorf("%w: varint overflows", ErrFormat)
			return 0
		}
		if b < 0x80 {
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
}

// varint reads a zig-zag signed varint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// bytes returns the next n bytes.
func (r *reader) bytes(n int) string {
	if r.err != nil {
		return ""
	}
	if n > len(r.s)-r.off {
		r.err = fmt.Errorf("%w: truncated", ErrFormat)
		return ""
	}
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) field() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)-r.off) {
		r.err = fmt.Errorf("%w: field of %d bytes runs past the end", ErrFormat, n)
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}
