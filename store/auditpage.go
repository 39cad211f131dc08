package store

import (
	"encoding/json"
	"os"
	"strings"
	"sync"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// The page reader's parts that a filtered query over a long sealed
// history needs to be fast (issue 15): frames decoded without their
// hashes, hashed only as far as a page takes entries, in reused memory
// when they hold no match; a segment's file opened once; summaries
// parsed without encoding/json.

// ParseAuditSummary parses b, a sealed segment's summary of actors,
// actions or target types as insertSegment writes it (a JSON array of
// strings), into p, as json.Unmarshal does. The summaries are most of
// what a reader with an empty cache reads of the index (a segment's
// actors are its users' ids and names), and most of what a restore reads
// of a backup's index before it copies the segments; json.Unmarshal was
// most of the CPU of both over a long history. An array of plain strings
// (printable ASCII, no escapes, no spaces, as json.Marshal writes the
// ids and names Bitnobi makes) is split here, in one allocation;
// anything else is left to json.Unmarshal.
func ParseAuditSummary(b []byte, p *[]string) error {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return json.Unmarshal(b, p)
	}
	quotes := 0
	for _, c := range b[1 : len(b)-1] {
		switch {
		case c < 0x20 || c >= 0x7f || c == '\\':
			return json.Unmarshal(b, p)
		case c == '"':
			quotes++
		}
	}
	// From here b must be ["...","...",...]: quotes pair up, and only
	// commas lie between a closing quote and the next opening one.
	out := make([]string, 0, quotes/2)
	s := string(b)
	for i := 1; i < len(s)-1; {
		if len(out) > 0 {
			if s[i] != ',' {
				return json.Unmarshal(b, p)
			}
			i++
		}
		if i >= len(s)-1 || s[i] != '"' {
			return json.Unmarshal(b, p)
		}
		j := strings.IndexByte(s[i+1:len(s)-1], '"')
		if j < 0 {
			return json.Unmarshal(b, p)
		}
		out = append(out, s[i+1:i+1+j])
		i += j + 2
	}
	*p = out
	return nil
}

// segFrame is a decoded frame of a sealed segment, as the cache keeps it:
// its entries' fields are decoded at once, their PrevHash and Hash only
// as far as a reader needs them ([segFrame.hashed]). A filtered query
// reads many frames to find a few matches, and hashing was most of the
// cost of reading a frame. The fields do not change after decoding, so
// readers that share a frame may read them at any time; the first n
// entries' hashes are set, under mu, and do not change either.
type segFrame struct {
	es  []bitnobi.AuditEntry
	key frameKey
	// buf holds es while the frame is a reader's own, not cached (see
	// [DB.segmentFrame]); nil once cached.
	buf *frameBuf
	mu  sync.Mutex
	n   int // entries whose hashes are set
}

// release gives the memory of fr, a frame [DB.segmentFrame] decoded that
// its reader does not keep, back for another frame: fr's entries must not
// be used after. It does nothing to a cached frame.
func (fr *segFrame) release() {
	if fr.buf != nil {
		frameBufs.Put(fr.buf)
		fr.buf = nil
	}
}

// hashed returns the entries of f, frame i of seg whose frame table is x,
// with the hashes of the first upto+1 set, computing those not yet set
// from the frame's prev_hash on (an entry's hash needs every one before
// it in the frame). Once the frame is hashed whole, its last entry's
// hash must be the one the file or the index row says follows it: the
// next frame's prev_hash, or seg's last_hash for the last frame. A frame
// altered inside, but with its checksums made to match, is then refused
// rather than returned with hashes of its altered content.
func (f *segFrame) hashed(seg *AuditSegment, x *auditseg.Index, i, upto int) ([]bitnobi.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n <= upto {
		if f.n == 0 {
			x.HashFrame(i, f.es[:upto+1])
		} else {
			auditseg.HashChain(f.es[f.n-1].Hash, f.es[f.n:upto+1])
		}
		f.n = upto + 1
	}
	if f.n == len(f.es) {
		want := seg.LastHash
		if i+1 < len(x.Frames) {
			want = x.Frames[i+1].PrevHash
		}
		if l := &f.es[f.n-1]; l.Hash != want {
			return nil, segmentError(seg, "frame %d: the hash of seq %d is not the prev_hash of the entry after it (entry altered)", i, l.Seq)
		}
	}
	return f.es, nil
}

// keepFrame caches fr, a frame [DB.segmentFrame] decoded or cached, and
// returns the cached frame: fr, or the same frame another reader cached
// first (fr's memory is then given back).
func (db *DB) keepFrame(fr *segFrame) *segFrame {
	fb := fr.buf
	if fb == nil {
		return fr // cached already
	}
	fr.buf = nil
	c := &db.segs
	c.mu.Lock()
	if c.frames == nil {
		c.frames = map[frameKey]*segFrame{}
	}
	cached, ok := c.frames[fr.key]
	if !ok {
		if len(c.keys) == frameCacheSize {
			delete(c.frames, c.keys[0])
			c.keys = c.keys[1:]
		}
		c.frames[fr.key] = fr
		c.keys = append(c.keys, fr.key)
	}
	c.mu.Unlock()
	if ok {
		frameBufs.Put(fb)
		return cached
	}
	// The entries and their bytes are the cache's now; the file's bytes
	// of the frame are not part of them.
	fb.es, fb.raw = nil, nil
	frameBufs.Put(fb)
	return fr
}

// frameBuf is the memory of a frame [DB.segmentFrame] decodes: the
// frame's bytes in the file, decompressed, and its entries. Most frames a
// filtered query reads hold no match: they are decoded into the memory
// of one before rather than new memory (which was a fifth of such a
// query's CPU, with the collection it made the GC do).
type frameBuf struct {
	b, raw []byte
	es     []bitnobi.AuditEntry
}

var frameBufs = sync.Pool{New: func() any { return new(frameBuf) }}

// segmentFile opens a sealed segment's file once for the frames a reader
// reads of it, rather than once a frame. The zero value has none open.
type segmentFile struct {
	f *os.File
}

// open returns seg's file from blobs, opening it on first use.
func (s *segmentFile) open(blobs *blob.Store, seg *AuditSegment) (*os.File, error) {
	if s.f == nil {
		f, _, err := openSegment(blobs, seg)
		if err != nil {
			return nil, err
		}
		s.f = f
	}
	return s.f, nil
}

// close closes the file if it is open.
func (s *segmentFile) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
