// Package auditseg encodes and decodes sealed audit log segments: the
// immutable files that hold the audit log's closed history (issue 15).
// [store.DB.SealAudit] writes one per segment of the log into the blob
// store, where it is named by the SHA-256 of its bytes like any blob, and
// records it in the audit_segments table.
//
// # Format, version 2
//
// A segment file is a header, then its entries in frames of up to
// [FrameEntries] consecutive entries, each frame one zstd frame that
// decompresses on its own: a reader of one page of the log decodes the
// frame that holds it, not the whole segment. Its parts, in order:
//
//   - the 8-byte magic "BNAUDSEG" and one version byte (2);
//   - the length of the frame table, 4 bytes, little-endian;
//   - the frame table: the number of entries, the first entry's seq and
//     the number of frames, each an unsigned varint (encoding/binary's
//     Uvarint); then for each frame, in order, its number of entries
//     (at least 1), its decompressed size and its size in the file
//     (unsigned varints), and the prev_hash of its first entry: one byte,
//     32 or 0, then that many bytes (the SHA-256 that audit_log holds in
//     hex; 0 only for the first frame of the log, whose prev_hash is "");
//   - the CRC-32C (Castagnoli) of the frame table, 4 bytes, little-endian;
//   - the frames, back to back: each starts where the one before ends,
//     and nothing follows the last.
//
// The entries' seqs are consecutive, from the first. A frame's entries,
// decompressed, are stored by column: first each entry's time, as the
// difference of its Unix seconds from the entry before it (from 0 for
// the first), a zig-zag signed varint (encoding/binary's Varint), and its
// nanoseconds, an unsigned varint; then, column after column, each
// entry's
//
//	actor_id, actor_name, action, target_type, target_id, detail,
//	remote_addr, remote_user
//
// as a text field: an unsigned varint length, then that many bytes. The
// fields are the audit_log columns of the same name; the time is that of
// at, which audit_log stores as text in [bitnobi.TimeFormat] (UTC), hence
// between the years 0 and 9999 and to the nanosecond.
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
// would take a frame past [MaxFrameSize]): sealing the same entries twice
// gives the same bytes, hence the same blob. The frame table's checksum
// and each frame's zstd checksum let a page reader, which does not hash
// the whole file, notice a damaged file too.
//
// Version 1 (one zstd frame holding every entry with its hash) was never
// part of a released backup format and is not read.
//
// A reader refuses, with an error wrapping [ErrFormat], a file of another
// magic or version, a frame table that does not check, does not add up to
// the file's size or its count of entries, declares another count of
// entries than its index gives, more than [MaxEntries] entries, a frame
// of more than [MaxFrameSize] decompressed bytes or [MaxFrameEntries]
// entries, more than [MaxDecodedSize] decompressed bytes in all, a frame
// that does not declare (zstd's frame content size) and decompress to the
// size its table gives,
// a field running past the end, bytes after the last entry of a frame, or
// a time out of range. It checks nothing about the chain beyond
// recomputing the hashes: that is the checker's job.
package auditseg

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi"
)

// Magic starts every segment file.
const Magic = "BNAUDSEG"

// Version is the format version this package writes and reads.
const Version = 2

// FrameEntries is the most entries [Encode] puts in one frame: the unit a
// reader decompresses. Measured on the dev seed's entries (store's
// BenchmarkSegmentBytesPerEntry and BenchmarkAuditPageCold), 256, 512 and
// 1024 give 30.2, 27.3 and 24.7 bytes an entry on disk, and a page of 50
// entries from a segment not in the cache 0.7, 1.0 and 1.3 ms (p50): 512
// keeps most of the compression of larger frames at little cost to a
// page.
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
	// MaxFrameSize is the most bytes one frame may decompress to: what a
	// reader of one frame allocates at most. [Encode] refuses an entry
	// larger than that.
	MaxFrameSize = 4 << 20
	// MaxFrameEntries is the most entries one frame may hold. With
	// MaxFrameSize it bounds what decoding one frame allocates, however
	// well a hostile frame compresses (4 MiB of zeros are 419,430 empty
	// entries in a few hundred bytes).
	MaxFrameEntries = 8 * FrameEntries
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
		first, n int
		raw      int
		data     []byte
	}
	var frames []frame
	var raw []byte
	var total int64
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
		raw = appendFrame(raw[:0], entries[i:i+n])
		frames = append(frames, frame{first: i, n: n, raw: len(raw), data: encoder.EncodeAll(raw, nil)})
		total += int64(len(raw))
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
	size := 0
	for _, f := range frames {
		table = binary.AppendUvarint(table, uint64(f.n))
		table = binary.AppendUvarint(table, uint64(f.raw))
		table = binary.AppendUvarint(table, uint64(len(f.data)))
		p := entries[f.first].PrevHash
		if p == "" {
			table = append(table, 0)
		} else {
			table = append(table, hashLen)
			table = append(table, make([]byte, hashLen)...)
			_, _ = hex.Decode(table[len(table)-hashLen:], []byte(p)) // checked above
		}
		size += len(f.data)
	}
	out := make([]byte, 0, prefixLen+len(table)+crcLen+size)
	out = append(out, Magic...)
	out = append(out, Version)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(table)))
	out = append(out, table...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(table, castagnoli))
	for _, f := range frames {
		out = append(out, f.data...)
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

// appendFrame appends the decompressed frame of entries to b.
func appendFrame(b []byte, entries []bitnobi.AuditEntry) []byte {
	var prev int64
	for i := range entries {
		t := entries[i].At
		b = binary.AppendVarint(b, t.Unix()-prev)
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		prev = t.Unix()
	}
	for k := range 8 {
		for i := range entries {
			s := *columns(&entries[i])[k]
			b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}
	}
	return b
}

// Index is the frame table of a segment file: where each frame is and
// which entries it holds.
type Index struct {
	Entries  int   // in the segment
	FirstSeq int64 // the first entry's seq (0 when it holds none)
	Frames   []Frame
	Size     int64 // of the file
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
	if v := prefix[len(Magic)]; v != Version {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrFormat, v, Version)
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
	return parseTable(table[:n], size, int64(prefixLen)+n+crcLen, want)
}

// parseTable parses the frame table of a file of size bytes whose frames
// start at offset start.
func parseTable(table []byte, size, start, want int64) (*Index, error) {
	rd := reader{s: unsafe.String(unsafe.SliceData(table), len(table))}
	entries, first, frames := rd.uvarint(), rd.uvarint(), rd.uvarint()
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
	}
	x := &Index{Entries: int(entries), FirstSeq: int64(first), Frames: make([]Frame, frames), Size: size}
	seq, off, raw := int64(first), start, int64(0)
	for i := range x.Frames {
		f := &x.Frames[i]
		k, rs, fs := rd.uvarint(), rd.uvarint(), rd.uvarint()
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
		case fs == 0 || fs > uint64(size-off):
			return nil, fmt.Errorf("%w: frame %d: %d bytes past the end of the file", ErrFormat, i, fs)
		}
		f.FirstSeq, f.Entries, f.RawSize, f.Offset, f.Size = seq, int(k), int(rs), off, int(fs)
		if h != "" {
			f.PrevHash = hex.EncodeToString(unsafe.Slice(unsafe.StringData(h), len(h)))
		}
		seq += int64(k)
		off += int64(fs)
		raw += int64(rs)
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

// ReadFrame reads frame i of the segment file r holds and decodes it, as
// [Index.DecodeFrame] does.
func (x *Index) ReadFrame(r io.ReaderAt, i int) ([]bitnobi.AuditEntry, error) {
	f := &x.Frames[i]
	b := make([]byte, f.Size)
	if _, err := r.ReadAt(b, f.Offset); err != nil {
		return nil, fmt.Errorf("read segment frame %d: %w", i, err)
	}
	return x.DecodeFrame(i, b)
}

// DecodeFrame decodes frame i, whose bytes in the file are b, and returns
// its entries with their hashes computed: from the frame's PrevHash on,
// each entry's Hash is [bitnobi.AuditEntry.ComputeHash] and the next
// one's PrevHash. The entries' strings share memory with each other: a
// few large allocations, not one per field. Errors wrap [ErrFormat].
func (x *Index) DecodeFrame(i int, b []byte) ([]bitnobi.AuditEntry, error) {
	es, _, err := x.DecodeFrameFieldsInto(i, b, nil, nil)
	if err != nil {
		return nil, err
	}
	x.HashFrame(i, es)
	return es, nil
}

// DecodeFrameFieldsInto decodes frame i, whose bytes in the file are b,
// with every check of [Index.DecodeFrame], but computes no hash: the
// entries have their Seq, At and text fields, and an empty PrevHash and
// Hash until [Index.HashFrame] sets them. Hashing was most of the cost
// of decoding a frame, so a reader that looks for the entries matching a
// filter hashes only the frames that hold one it returns.
//
// It decodes into the memory of es and buf where they have room, rather
// than new memory: the entries in es (if its capacity is at least the
// frame's Entries), the decompressed bytes, which the entries' strings
// share, in buf (if its capacity is at least the frame's RawSize); nil
// for new memory. It returns the entries and the buffer that holds their
// bytes, so that a reader that keeps neither (a frame with no entry it
// wants) may decode the next frame into them; the entries' strings
// change when it does. Errors wrap [ErrFormat].
func (x *Index) DecodeFrameFieldsInto(i int, b []byte, es []bitnobi.AuditEntry, buf []byte) ([]bitnobi.AuditEntry, []byte, error) {
	f := &x.Frames[i]
	if cap(es) < f.Entries {
		es = make([]bitnobi.AuditEntry, f.Entries)
	} else {
		es = es[:f.Entries]
		clear(es)
	}
	if cap(buf) < f.RawSize {
		buf = make([]byte, 0, f.RawSize)
	}
	if err := decodeFields(f, b, es, buf[:0]); err != nil {
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
	// The hashes share one buffer, as the fields share raw.
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

// decodeFrame decodes the frame f of bytes b into es, which has room for
// exactly its entries, and computes their hashes.
func decodeFrame(f *Frame, b []byte, es []bitnobi.AuditEntry) error {
	if err := decodeFields(f, b, es, make([]byte, 0, f.RawSize)); err != nil {
		return err
	}
	hashFrame(f, es)
	return nil
}

// decodeFields decodes the frame f of bytes b into es, which has room for
// exactly its entries, but for their PrevHash and Hash, decompressing it
// into raw, which must have room for its RawSize bytes.
func decodeFields(f *Frame, b []byte, es []bitnobi.AuditEntry, raw []byte) error {
	if len(b) != f.Size {
		return fmt.Errorf("%w: %d bytes, not %d", ErrFormat, len(b), f.Size)
	}
	// The decoder allocates the size the frame declares: check it first
	// (the decoder's own bound is MaxFrameSize).
	var h zstd.Header
	if err := h.Decode(b); err != nil {
		return fmt.Errorf("%w: frame header: %v", ErrFormat, err)
	}
	if !h.HasFCS || h.FrameContentSize != uint64(f.RawSize) {
		return fmt.Errorf("%w: does not declare its %d bytes", ErrFormat, f.RawSize)
	}
	raw, err := decoder.DecodeAll(b, raw)
	if err != nil {
		return fmt.Errorf("%w: decompress: %v", ErrFormat, err)
	}
	if len(raw) != f.RawSize {
		return fmt.Errorf("%w: %d bytes, not %d", ErrFormat, len(raw), f.RawSize)
	}
	// One string holds every field: each is a slice of it, not an
	// allocation of its own. raw is not used otherwise, nor changed, so
	// the string can share its bytes rather than copy them.
	r := reader{s: unsafe.String(unsafe.SliceData(raw), len(raw))}
	var sec int64
	for i := range es {
		d := r.varint()
		ns := r.uvarint()
		if r.err != nil {
			return r.err
		}
		// sec is 0 or within [minSec, maxSec], so neither side overflows.
		if d < minSec-sec || d > maxSec-sec || ns >= 1e9 {
			return fmt.Errorf("%w: entry %d (seq %d): time out of range", ErrFormat, i, f.FirstSeq+int64(i))
		}
		sec += d
		es[i].Seq = f.FirstSeq + int64(i)
		es[i].At = time.Unix(sec, int64(ns)).UTC()
	}
	for k := range 8 {
		for i := range es {
			*columns(&es[i])[k] = r.field()
		}
	}
	if r.err != nil {
		return r.err
	}
	if r.off != len(r.s) {
		return fmt.Errorf("%w: %d bytes after the last entry", ErrFormat, len(r.s)-r.off)
	}
	return nil
}

// hashFrame sets the PrevHash and Hash of es, the entries of the frame f,
// from f's PrevHash on.
func hashFrame(f *Frame, es []bitnobi.AuditEntry) {
	HashChain(f.PrevHash, es)
}

// Decode returns the entries of the segment file data, in the order they
// were encoded, decoding every frame (see [Index.DecodeFrame]): each
// frame's first entry has the PrevHash the frame table gives, which a
// checker compares with the hash of the entry before it. want is the
// number of entries the file must hold, or -1 for any number, as for
// [ReadIndex]. It holds every entry at once: [Scan] holds one frame at
// a time. Errors wrap [ErrFormat].
func Decode(data []byte, want int64) ([]bitnobi.AuditEntry, error) {
	x, err := ReadIndex(sliceReader(data), int64(len(data)), want)
	if err != nil {
		return nil, err
	}
	var es []bitnobi.AuditEntry
	for i := range x.Frames {
		f := &x.Frames[i]
		fes := make([]bitnobi.AuditEntry, f.Entries)
		if err := decodeFrame(f, data[f.Offset:f.Offset+int64(f.Size)], fes); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		if es == nil {
			es = make([]bitnobi.AuditEntry, 0, x.Entries)
		}
		es = append(es, fes...)
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
// [MaxFrameEntries] entries, whatever the file declares.
func Scan(data []byte, want int64, fn func(es []bitnobi.AuditEntry) error) error {
	x, err := ReadIndex(sliceReader(data), int64(len(data)), want)
	if err != nil {
		return err
	}
	var buf []bitnobi.AuditEntry
	for i := range x.Frames {
		f := &x.Frames[i]
		if cap(buf) < f.Entries {
			buf = make([]bitnobi.AuditEntry, f.Entries)
		}
		es := buf[:f.Entries]
		clear(es)
		if err := decodeFrame(f, data[f.Offset:f.Offset+int64(f.Size)], es); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if err := fn(es); err != nil {
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
