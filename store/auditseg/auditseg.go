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
// entries as an unsigned varint (encoding/binary's Uvarint), then each
// entry in seq order: its seq as an unsigned varint, then eleven text
// fields, each an unsigned varint length followed by that many bytes:
//
//	at, actor_id, actor_name, action, target_type, target_id, detail,
//	remote_addr, remote_user, prev_hash, hash
//
// at is the entry's time as stored in audit_log ([bitnobi.TimeFormat],
// UTC); the other fields are the audit_log columns of the same name, so
// each entry's hash ([bitnobi.AuditEntry.ComputeHash]) can be checked from
// the file alone. Nothing follows the last entry. The encoding holds no
// time of writing and no other variable part: sealing the same entries
// twice gives the same bytes, hence the same blob.
//
// A reader refuses, with an error wrapping [ErrFormat], a file of another
// magic or version, a frame that does not decompress, more than
// [MaxEntries] entries, more than [MaxDecodedSize] decompressed bytes, a
// field running past the end, bytes after the last entry, or a time not
// in [bitnobi.TimeFormat]. It checks nothing about the chain: that is the
// reader's job (store.VerifyAudit).
package auditseg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

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
	// MaxDecodedSize is the most bytes a segment may decompress to.
	MaxDecodedSize = 256 << 20
)

// headerLen is the length of the magic and version byte.
const headerLen = len(Magic) + 1

// fields is the number of text fields of an entry.
const fields = 11

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
// order. At is written in UTC, in [bitnobi.TimeFormat].
func Encode(entries []bitnobi.AuditEntry) ([]byte, error) {
	if len(entries) > MaxEntries {
		return nil, fmt.Errorf("encode audit segment: %d entries, more than %d", len(entries), MaxEntries)
	}
	raw := make([]byte, 0, 512*len(entries)+binary.MaxVarintLen64)
	raw = binary.AppendUvarint(raw, uint64(len(entries)))
	for i := range entries {
		e := &entries[i]
		if e.Seq <= 0 {
			return nil, fmt.Errorf("encode audit segment: entry %d has seq %d", i, e.Seq)
		}
		raw = binary.AppendUvarint(raw, uint64(e.Seq))
		raw = appendField(raw, bitnobi.FormatTime(e.At))
		for _, s := range [...]string{e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Detail, e.RemoteAddr, e.RemoteUser, e.PrevHash, e.Hash} {
			raw = appendField(raw, s)
		}
	}
	if len(raw) > MaxDecodedSize {
		return nil, fmt.Errorf("encode audit segment: %d bytes, more than %d", len(raw), MaxDecodedSize)
	}
	out := make([]byte, 0, headerLen+len(raw)/4)
	out = append(out, Magic...)
	out = append(out, Version)
	return encoder.EncodeAll(raw, out), nil
}

func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// Decode returns the entries of the segment file data, in the order they
// were encoded. Errors wrap [ErrFormat].
func Decode(data []byte) ([]bitnobi.AuditEntry, error) {
	if len(data) < headerLen || string(data[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: no segment header", ErrFormat)
	}
	if v := data[len(Magic)]; v != Version {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrFormat, v, Version)
	}
	raw, err := decoder.DecodeAll(data[headerLen:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrFormat, err)
	}
	if len(raw) > MaxDecodedSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrFormat, MaxDecodedSize)
	}
	// One string holds every field: each is a slice of it, not an
	// allocation of its own.
	r := reader{s: string(raw)}
	n := r.uvarint()
	if r.err == nil && n > MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, more than %d", ErrFormat, n, MaxEntries)
	}
	// Each entry takes at least 1+fields bytes, so a count the bytes
	// cannot hold is refused before anything is allocated for it.
	if r.err == nil && n > uint64(len(r.s)-r.off)/(1+fields) {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrFormat, n, len(r.s)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	entries := make([]bitnobi.AuditEntry, n)
	for i := range entries {
		e := &entries[i]
		seq := r.uvarint()
		if r.err == nil && (seq == 0 || seq > 1<<62) {
			return nil, fmt.Errorf("%w: entry %d has seq %d", ErrFormat, i, seq)
		}
		e.Seq = int64(seq)
		at := r.field()
		for _, p := range [...]*string{&e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash} {
			*p = r.field()
		}
		if r.err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, r.err)
		}
		if e.At, err = bitnobi.ParseTime(at); err != nil {
			return nil, fmt.Errorf("%w: entry %d (seq %d): time %s", ErrFormat, i, e.Seq, strconv.Quote(at))
		}
	}
	if r.off != len(r.s) {
		return nil, fmt.Errorf("%w: %d bytes after the last entry", ErrFormat, len(r.s)-r.off)
	}
	return entries, nil
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
