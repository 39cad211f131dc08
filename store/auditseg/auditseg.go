// Package auditseg encodes and decodes sealed audit log segments: the
// immutable files that hold the audit log's closed history (issue 15).
// [store.DB.SealAudit] writes one per segment of the log into the blob
// store, where it is named by the SHA-256 of its bytes like any blob, and
// records it in the audit_segments table.
//
// # Format, version 1
//
// A segment file is an 8-byte magic, "BNAUDSEG", one version byte (1),
// then one zstd frame. Decompressed, the frame holds the number of
// entries as an unsigned varint (encoding/binary's Uvarint), the first
// entry's prev_hash as a text field (a text field is an unsigned varint
// length followed by that many bytes), then each entry in seq order: its
// seq as an unsigned varint, nine text fields,
//
//	at, actor_id, actor_name, action, target_type, target_id, detail,
//	remote_addr, remote_user
//
// and its hash as 32 bytes (the SHA-256 that audit_log holds in hex).
// at is the entry's time as stored in audit_log ([bitnobi.TimeFormat],
// UTC); the other fields are the audit_log columns of the same name. Each
// entry's prev_hash is the hash of the entry before it, so it is not
// repeated: a segment is a piece of the chain, and each entry's hash
// ([bitnobi.AuditEntry.ComputeHash]) can be checked from the file alone.
// Nothing follows the last entry. The encoding holds no time of writing
// and no other variable part: sealing the same entries twice gives the
// same bytes, hence the same blob.
//
// A reader refuses, with an error wrapping [ErrFormat], a file of another
// magic or version, a frame that declares (or decompresses to) more than
// [MaxRatio] times the file's size, a frame that does not decompress, another
// count of entries than its index gives, more than [MaxEntries] entries,
// more than [MaxDecodedSize] decompressed bytes, a
// field running past the end, bytes after the last entry, or a time not
// in [bitnobi.TimeFormat]. It checks nothing about the chain: that is the
// reader's job (store.VerifyAudit).
package auditseg

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi"
)

// Magic starts every segment file.
const Magic = "BNAUDSEG"

// Version is the format version this package writes and reads.
const Version = 1

// Limits of a decoded segment: a file beyond them is refused rather than
// decoded, so a hostile file cannot make a reader allocate without bound.
const (
	// MaxEntries is the most entries one segment may hold (segments hold
	// 16384 by default).
	MaxEntries = 1 << 20
	// MaxDecodedSize is the most bytes a segment may decompress to, and
	// the largest segment file a reader reads.
	MaxDecodedSize = 256 << 20
	// MaxRatio bounds the size a segment may decompress to by a multiple
	// of the file's size, so that a small hostile file cannot declare a
	// large size and have it allocated. Every entry holds its 32-byte
	// hash, which does not compress, so only entries of more than 32 KiB
	// of repeated text come near it: [Encode] refuses those rather than
	// write a file [Decode] would refuse.
	MaxRatio = 1024
)

// maxDecoded returns the most bytes a segment file of n bytes may
// decompress to.
func maxDecoded(n int) int {
	return int(min(int64(MaxDecodedSize), int64(MaxRatio)*int64(n)))
}

// headerLen is the length of the magic and version byte.
const headerLen = len(Magic) + 1

// minEntry is the fewest bytes an encoded entry takes: its seq, nine
// empty text fields and its hash.
const minEntry = 1 + 9 + hashLen

// hashLen is the length of a SHA-256.
const hashLen = 32

// ErrFormat means the bytes are not a segment file this package can read.
var ErrFormat = errors.New("not a valid audit segment")

var (
	// encoder and decoder are safe for concurrent use by EncodeAll and
	// DecodeAll. One goroutine per encode keeps the output the same
	// whatever the machine.
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(4<<20), zstd.WithZeroFrames(true))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxDecodedSize), zstd.WithDecoderMaxWindow(8<<20))
)

// Encode returns the segment file of entries, which must be given in seq
// order and form a chain: each entry's PrevHash is the Hash of the entry
// before it, and every Hash is a hex SHA-256 (64 lowercase hex digits). At
// is written in UTC, in [bitnobi.TimeFormat].
func Encode(entries []bitnobi.AuditEntry) ([]byte, error) {
	if len(entries) > MaxEntries {
		return nil, fmt.Errorf("encode audit segment: %d entries, more than %d", len(entries), MaxEntries)
	}
	raw := make([]byte, 0, 400*len(entries)+100)
	raw = binary.AppendUvarint(raw, uint64(len(entries)))
	if len(entries) > 0 {
		raw = appendField(raw, entries[0].PrevHash)
	} else {
		raw = appendField(raw, "")
	}
	var at [len(bitnobi.TimeFormat)]byte
	for i := range entries {
		e := &entries[i]
		if e.Seq <= 0 {
			return nil, fmt.Errorf("encode audit segment: entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && e.PrevHash != entries[i-1].Hash {
			return nil, fmt.Errorf("encode audit segment: entry %d (seq %d) does not follow the one before it", i, e.Seq)
		}
		raw = binary.AppendUvarint(raw, uint64(e.Seq))
		raw = appendField(raw, string(e.At.UTC().AppendFormat(at[:0], bitnobi.TimeFormat)))
		for _, s := range [...]string{e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Detail, e.RemoteAddr, e.RemoteUser} {
			raw = appendField(raw, s)
		}
		if len(e.Hash) != 2*hashLen || strings.ToLower(e.Hash) != e.Hash {
			return nil, fmt.Errorf("encode audit segment: entry %d (seq %d): hash %q is not a hex SHA-256", i, e.Seq, e.Hash)
		}
		n := len(raw)
		raw = append(raw, make([]byte, hashLen)...)
		if _, err := hex.Decode(raw[n:], []byte(e.Hash)); err != nil {
			return nil, fmt.Errorf("encode audit segment: entry %d (seq %d): hash: %w", i, e.Seq, err)
		}
	}
	if len(raw) > MaxDecodedSize {
		return nil, fmt.Errorf("encode audit segment: %d bytes, more than %d", len(raw), MaxDecodedSize)
	}
	out := make([]byte, 0, headerLen+len(raw)/4)
	out = append(out, Magic...)
	out = append(out, Version)
	out = encoder.EncodeAll(raw, out)
	if len(raw) > maxDecoded(len(out)) {
		return nil, fmt.Errorf("encode audit segment: %d bytes compress to %d, more than %d times less", len(raw), len(out), MaxRatio)
	}
	return out, nil
}

func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// Decode returns the entries of the segment file data, in the order they
// were encoded. want is the number of entries the file must hold (the
// segment's index row says), or -1 for any number: a file that declares
// another count is refused before anything is allocated for it, as is
// one whose frame declares more than [MaxRatio] times its own size or
// [MaxDecodedSize] decompressed bytes (a frame that declares no size is
// read as a stream, up to that bound). Errors wrap
// [ErrFormat]. The entries' strings share memory with each other: a few
// large allocations, not one per field.
func Decode(data []byte, want int64) ([]bitnobi.AuditEntry, error) {
	if len(data) < headerLen || string(data[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: no segment header", ErrFormat)
	}
	if v := data[len(Magic)]; v != Version {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrFormat, v, Version)
	}
	// The decoder allocates the size the frame declares: check it first.
	limit := maxDecoded(len(data))
	var h zstd.Header
	if err := h.Decode(data[headerLen:]); err != nil {
		return nil, fmt.Errorf("%w: frame header: %v", ErrFormat, err)
	}
	var raw []byte
	var err error
	if h.HasFCS {
		if h.FrameContentSize > uint64(limit) {
			return nil, fmt.Errorf("%w: declares %d bytes in a file of %d, more than %d", ErrFormat, h.FrameContentSize, len(data), limit)
		}
		raw, err = decoder.DecodeAll(data[headerLen:], make([]byte, 0, h.FrameContentSize))
	} else {
		// No size declared (the encoder leaves it out of small frames):
		// read it as a stream, stopping past the limit.
		raw, err = decodeStream(data[headerLen:], limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrFormat, err)
	}
	if len(raw) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrFormat, limit)
	}
	// One string holds every field: each is a slice of it, not an
	// allocation of its own. raw is not used otherwise, nor changed, so
	// the string can share its bytes rather than copy them.
	r := reader{s: unsafe.String(unsafe.SliceData(raw), len(raw))}
	n := r.uvarint()
	prev := r.field()
	if r.err != nil {
		return nil, r.err
	}
	if n > MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, more than %d", ErrFormat, n, MaxEntries)
	}
	if want >= 0 && n != uint64(want) {
		return nil, fmt.Errorf("%w: holds %d entries, not the %d indexed", ErrFormat, n, want)
	}
	// A count the bytes cannot hold is refused before anything is
	// allocated for it.
	if n > uint64(len(r.s)-r.off)/minEntry {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrFormat, n, len(r.s)-r.off)
	}
	entries := make([]bitnobi.AuditEntry, n)
	hexes := make([]byte, 2*hashLen*n)
	for i := range entries {
		e := &entries[i]
		seq := r.uvarint()
		if r.err == nil && (seq == 0 || seq > 1<<62) {
			return nil, fmt.Errorf("%w: entry %d has seq %d", ErrFormat, i, seq)
		}
		e.Seq = int64(seq)
		at := r.field()
		for _, p := range [...]*string{&e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser} {
			*p = r.field()
		}
		h := r.bytes(hashLen)
		if r.err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, r.err)
		}
		x := hexes[2*hashLen*i : 2*hashLen*(i+1)]
		hex.Encode(x, []byte(h))
		e.Hash = unsafe.String(unsafe.SliceData(x), len(x))
		e.PrevHash = prev
		prev = e.Hash
		var ok bool
		if e.At, ok = parseTime(at); !ok {
			return nil, fmt.Errorf("%w: entry %d (seq %d): time %s", ErrFormat, i, e.Seq, strconv.Quote(at))
		}
	}
	if r.off != len(r.s) {
		return nil, fmt.Errorf("%w: %d bytes after the last entry", ErrFormat, len(r.s)-r.off)
	}
	return entries, nil
}

// decodeStream decompresses frame, reading at most limit+1 bytes of it.
func decodeStream(frame []byte, limit int) ([]byte, error) {
	d, err := zstd.NewReader(bytes.NewReader(frame), zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(limit)+1), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return io.ReadAll(io.LimitReader(d, int64(limit)+1))
}

// parseTime parses s, which must be in [bitnobi.TimeFormat] exactly, a
// few times faster than time.Parse: a segment holds thousands of times.
func parseTime(s string) (time.Time, bool) {
	// 2006-01-02T15:04:05.000000000Z
	if len(s) != len(bitnobi.TimeFormat) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec, ns := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ns < 0 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // February 30th, say
		return time.Time{}, false
	}
	return t, true
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
