package format

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Reading a file of a backup: docs/backup-format.md, "Compression" and
// "The encrypted part". Every read of a backup file's content goes
// through [OpenContent].

// copyBufSize is the size of the buffers files are copied through.
const copyBufSize = 1 << 20

// BufPool holds the *[]byte buffers, of 1 MiB, that files are copied
// through ([CopyBuf], and backup's blob copies).
var BufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// HashingWriter writes to w, hashing and counting what it writes.
// Its fields may be set before the first write: to carry on a hash of
// what was written elsewhere, or to write through another writer.
type HashingWriter struct {
	W io.Writer // where it writes
	H hash.Hash // SHA-256 of what was written
	N int64     // how many bytes were written
}

// NewHashingWriter returns a [HashingWriter] that writes to w.
func NewHashingWriter(w io.Writer) *HashingWriter { return &HashingWriter{W: w, H: sha256.New()} }

// Write writes p to the underlying writer, hashing and counting what it took.
func (hw *HashingWriter) Write(p []byte) (int, error) {
	n, err := hw.W.Write(p)
	hw.H.Write(p[:n])
	hw.N += int64(n)
	return n, err
}

// Sum returns the SHA-256 of what was written, in hex.
func (hw *HashingWriter) Sum() string { return hex.EncodeToString(hw.H.Sum(nil)) }

// CopyBuf copies r to w through a pooled buffer, calling tick (if not
// nil) with the byte count after each chunk.
func CopyBuf(w io.Writer, r io.Reader, tick func(n int64)) (int64, error) {
	bp := BufPool.Get().(*[]byte)
	defer BufPool.Put(bp)
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

// HashFile returns the SHA-256 and size of the file at path.
func HashFile(path string, tick func(int64)) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	hw := NewHashingWriter(io.Discard)
	if _, err := CopyBuf(hw, f, tick); err != nil {
		return "", 0, err
	}
	return hw.Sum(), hw.N, nil
}

// OpenContent opens the backup file at path (slash-separated, relative to
// dir) and returns a reader of its decoded content. Every read of a backup
// file's content goes through here. keys is nil for a plain backup; for an
// encrypted one it holds the identities or passphrase given, and the file
// is decrypted (age) before it is decoded: encoding is the content's
// encoding under the encryption, as the unlocked manifest records it. A
// file that does not decrypt gives an error matching [ErrWrongKey] (the
// keys do not open it) or [ErrChecksumMismatch] (it was altered). Reading
// returns an error matching [ErrChecksumMismatch] where the ciphertext
// was altered. Close releases the file and the decoder.
func OpenContent(dir, path, encoding string, keys *Keys) (io.ReadCloser, error) {
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
			if ids, err = FileIdentities(dir, keys); err != nil {
				f.Close()
				return nil, err
			}
		}
		if src, err = DecryptReader(f, ids, sealed); err != nil {
			f.Close()
			return nil, err
		}
	}
	dr, release, err := DecodeReader(src, encoding)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &contentReader{Reader: dr, close: func() error { release(); return f.Close() }}, nil
}

// contentReader is what [OpenContent] returns.
type contentReader struct {
	io.Reader
	close func() error
}

// Close releases the decoder and closes the file.
func (c *contentReader) Close() error { return c.close() }
