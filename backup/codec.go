package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// openFile opens a backup file for reading: every read of one goes
// through it, so that tests can count them.
var openFile = os.Open

// hashFile returns the SHA-256 and size of the file at path.
func hashFile(path string, tick func(int64)) (string, int64, error) {
	f, err := openFile(path)
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
	return openChecked(dir, path, encoding, keys, nil)
}

// openChecked is openContent that, with a check, also checks the bytes
// of the file on disk against the manifest's entry as it reads them (see
// [fileCheck]): a file whose SHA-256 differs gives, instead of the end of
// its content or of whatever error its decoding met first, the error of
// [checksumError].
func openChecked(dir, path, encoding string, keys *Keys, check *fileCheck) (io.ReadCloser, error) {
	f, err := openFile(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return nil, err
	}
	var src io.Reader = f
	var cf *checkedFile
	if check != nil {
		cf = check.wrap(f, path)
		src = cf
	}
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
		if src, err = decryptReader(src, ids, sealed); err != nil {
			f.Close()
			return nil, err
		}
	}
	dr, release, err := format.DecodeReader(src, encoding)
	if err != nil {
		f.Close()
		return nil, err
	}
	cr := &contentReader{Reader: dr, close: func() error { release(); return f.Close() }}
	if cf != nil {
		return &checkedContent{contentReader: cr, file: cf}, nil
	}
	return cr, nil
}

type contentReader struct {
	io.Reader
	close func() error
}

func (c *contentReader) Close() error { return c.close() }

// fileCheck checks the backup files a restore reads against the
// manifest's entries, by their SHA-256 computed as they are read, so
// that each file is read once: its content is restored and its bytes
// checked in the same pass. It records the files that passed; those it
// has not seen pass are checked apart ([fileCheck.rest]). Safe for
// concurrent use.
type fileCheck struct {
	want map[string]File // the manifest's entries (a public manifest's: of the bytes on disk), by path

	mu     sync.Mutex
	passed map[string]bool
}

// newFileCheck returns a check of the files of m, a public manifest,
// whose paths are in read: those a restore reads.
func newFileCheck(m *Manifest, read map[string]bool) *fileCheck {
	c := &fileCheck{want: make(map[string]File, len(read)), passed: map[string]bool{}}
	for _, f := range m.Files {
		if read[f.Path] {
			c.want[f.Path] = f
		}
	}
	return c
}

// later reports whether c checks f as it is read.
func (c *fileCheck) later(f File) bool {
	_, ok := c.want[f.Path]
	return ok
}

// wrap returns a reader of f, the backup file at path, that checks it.
func (c *fileCheck) wrap(f io.Reader, path string) *checkedFile {
	return &checkedFile{r: f, check: c, path: path, h: sha256.New()}
}

// pass records that the file at path passed.
func (c *fileCheck) pass(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passed[path] = true
}

// rest returns the paths of the files listed that have not passed.
func (c *fileCheck) rest() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var paths []string
	for p := range c.want {
		if !c.passed[p] {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths
}

// checkedFile reads a backup file, hashing its bytes, and checks them
// against the manifest's entry once it has read them all.
type checkedFile struct {
	r     io.Reader
	check *fileCheck
	path  string
	h     hash.Hash
	n     int64
	done  bool
	err   error // the check's result, once done
}

func (c *checkedFile) Read(p []byte) (int, error) {
	if c.done {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF {
		if cerr := c.end(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// end checks what was read, the whole file, against the manifest.
func (c *checkedFile) end() error {
	c.done = true
	want, ok := c.check.want[c.path]
	sum := hex.EncodeToString(c.h.Sum(nil))
	switch {
	case !ok:
		// Not one of the files c checks: checked before it was read.
	case c.n != want.Size:
		c.err = &FileError{Op: "verify", Path: c.path, Err: fmt.Errorf("%w: size %d, manifest says %d (%s)", ErrChecksumMismatch, c.n, want.Size, sizeChange(c.n, want.Size)),
			Hint: "the file was altered or damaged: pick another backup"}
	case sum != want.SHA256:
		c.err = checksumError(c.path, sum, want.SHA256)
	default:
		c.check.pass(c.path)
	}
	return c.err
}

// finish reads the rest of the file, if its reader stopped short of the
// end, and returns the check's result.
func (c *checkedFile) finish() error {
	if !c.done {
		if _, err := copyBuf(io.Discard, c, nil); err != nil {
			return err
		}
	}
	return c.err
}

// checkedContent is the content of a file that [openChecked] checks: the
// end of the content, or an error in decoding it, is where the file's
// check is finished, and a file that fails it gives the check's error,
// which says more than any decoding error it caused.
type checkedContent struct {
	*contentReader
	file *checkedFile
}

func (c *checkedContent) Read(p []byte) (int, error) {
	n, err := c.contentReader.Read(p)
	if err != nil {
		if cerr := c.file.finish(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// tableReader reads the decoded content of a table's files, its segments
// one after the other (see [Table.Parts]): together, the table's lines.
type tableReader struct {
	dir   string
	keys  *Keys
	check *fileCheck // nil, or what checks the files as they are read (openChecked)
	parts []Segment
	i     int
	cur   io.ReadCloser
}

// openTable opens the decoded content of t's files in dir; keys as for
// openContent, check as for openChecked. The first file is opened at
// once, so that a missing or undecryptable file is reported here; the
// others as they are reached, as a *FileError from Read.
func openTable(dir string, t Table, keys *Keys, check *fileCheck) (*tableReader, error) {
	r := &tableReader{dir: dir, keys: keys, check: check, parts: t.Parts()}
	if len(r.parts) > 0 {
		if err := r.open(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *tableReader) open() error {
	rc, err := openChecked(r.dir, r.parts[r.i].File, EncodingZstd, r.keys, r.check)
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
