package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/bitnobi/bitnobi/backup/format"
)

const (
	// copyBufSize is the size of the buffers files are copied through.
	copyBufSize = 1 << 20
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// hashingWriter writes to w, hashing and counting what it writes.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newHashingWriter(w io.Writer) *hashingWriter { return &hashingWriter{w: w, h: sha256.New()} }

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

func (hw *hashingWriter) sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// copyBuf copies r to w through a pooled buffer, calling tick (if not
// nil) with the byte count after each chunk.
func copyBuf(w io.Writer, r io.Reader, tick func(n int64)) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if tick != nil {
				tick(int64(m))
			}
		}
		if rerr == io.EOF {
			return total, nil
		} else if rerr != nil {
			return total, rerr
		}
	}
}

// hashFile returns the SHA-256 and size of the file at path.
func hashFile(path string, tick func(int64)) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	hw := newHashingWriter(io.Discard)
	if _, err := copyBuf(hw, f, tick); err != nil {
		return "", 0, err
	}
	return hw.sum(), hw.n, nil
}

// openContent opens the backup file at path (slash-separated, relative to
// dir) and returns a reader of its decoded content. Every read of a backup
// file's content goes through here. keys is nil for a plain backup; for an
// encrypted one it holds the identities or passphrase given, and the file
// is decrypted (age) before it is decoded: encoding is the content's
// encoding under the encryption, as the unlocked manifest records it. A
// file that does not decrypt gives an error matching [ErrWrongKey] (the
// keys do not open it) or [ErrChecksumMismatch] (it was altered). Reading
// returns an error matching [ErrChecksumMismatch] where the ciphertext
// was altered. Close releases the file and the decoder.
func openContent(dir, path, encoding string, keys *Keys) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return nil, err
	}
	var src io.Reader = f
	if keys != nil {
		// The sealed part is encrypted to the operator's keys; every
		// other file to the identities it holds (see fileIdentities).
		ids, sealed := keys.Identities, path == SealedName
		if !sealed {
			if ids, err = fileIdentities(dir, keys); err != nil {
				f.Close()
				return nil, err
			}
		}
		if src, err = decryptReader(f, ids, sealed); err != nil {
			f.Close()
			return nil, err
		}
	}
	dr, release, err := format.DecodeReader(src, encoding)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &contentReader{Reader: dr, close: func() error { release(); return f.Close() }}, nil
}

type contentReader struct {
	io.Reader
	close func() error
}

func (c *contentReader) Close() error { return c.close() }

// tableReader reads the decoded content of a table's files, its segments
// one after the other (see [Table.Parts]): together, the table's lines.
type tableReader struct {
	dir   string
	keys  *Keys
	parts []Segment
	i     int
	cur   io.ReadCloser
}

// openTable opens the decoded content of t's files in dir; keys as for
// openContent. The first file is opened at once, so that a missing or
// undecryptable file is reported here; the others as they are reached,
// as a *FileError from Read.
func openTable(dir string, t Table, keys *Keys) (*tableReader, error) {
	r := &tableReader{dir: dir, keys: keys, parts: t.Parts()}
	if len(r.parts) > 0 {
		if err := r.open(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *tableReader) open() error {
	rc, err := openContent(r.dir, r.parts[r.i].File, EncodingZstd, r.keys)
	if err != nil {
		return &FileError{Op: "read", Path: r.parts[r.i].File, Err: err}
	}
	r.cur = rc
	return nil
}

// path returns the file being read, or the last one after the end.
func (r *tableReader) path() string {
	if len(r.parts) == 0 {
		return ""
	}
	return r.parts[min(r.i, len(r.parts)-1)].File
}

func (r *tableReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.i >= len(r.parts) {
				return 0, io.EOF
			}
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			cerr := r.cur.Close()
			r.cur = nil
			r.i++
			if cerr != nil {
				return n, &FileError{Op: "read", Path: r.parts[r.i-1].File, Err: cerr}
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Close closes the file being read.
func (r *tableReader) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
