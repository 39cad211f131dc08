package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"

	"github.com/bitnobi/bitnobi/backup/format"
)

// openChecked is [format.OpenContent] that, with a check, also checks the
// bytes of the file on disk against the manifest's entry as it reads
// them (see [fileCheck]): a file whose SHA-256 differs gives, instead of
// the end of its content or of whatever error its decoding met first,
// the error of [checksumError].
func openChecked(dir, path, encoding string, keys *format.Keys, check *fileCheck) (io.ReadCloser, error) {
	if check == nil {
		return format.OpenContent(dir, path, encoding, keys)
	}
	var cf *checkedFile
	rc, err := format.OpenContentVia(dir, path, encoding, keys, func(f io.Reader) io.Reader {
		cf = check.wrap(f, path)
		return cf
	})
	if err != nil {
		return nil, err
	}
	return &checkedContent{ReadCloser: rc, file: cf}, nil
}

// fileCheck checks the backup files a restore reads against the
// manifest's entries, by their SHA-256 computed as they are read, so
// that each file is read once: its content is restored and its bytes
// checked in the same pass. It records the files that passed; those it
// has not seen pass are checked apart ([fileCheck.rest]). Safe for
// concurrent use.
type fileCheck struct {
	want map[string]format.File // the manifest's entries (a public manifest's: of the bytes on disk), by path

	mu     sync.Mutex
	passed map[string]bool
}

// newFileCheck returns a check of the files of m, a public manifest,
// whose paths are in read: those a restore reads.
func newFileCheck(m *format.Manifest, read map[string]bool) *fileCheck {
	c := &fileCheck{want: make(map[string]format.File, len(read)), passed: map[string]bool{}}
	for _, f := range m.Files {
		if read[f.Path] {
			c.want[f.Path] = f
		}
	}
	return c
}

// later reports whether c checks f as it is read.
func (c *fileCheck) later(f format.File) bool {
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
		if _, err := format.CopyBuf(io.Discard, c, nil); err != nil {
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
	io.ReadCloser
	file *checkedFile
}

func (c *checkedContent) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil {
		if cerr := c.file.finish(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// tableReader reads the decoded content of a table's files, its segments
// one after the other (see [format.Table.Parts]): together, the table's lines.
type tableReader struct {
	dir   string
	keys  *format.Keys
	check *fileCheck // nil, or what checks the files as they are read (openChecked)
	parts []format.Segment
	i     int
	cur   io.ReadCloser
}

// openTable opens the decoded content of t's files in dir; keys as for
// [format.OpenContent], check as for openChecked. The first file is opened
// at once, so that a missing or undecryptable file is reported here; the
// others as they are reached, as a *FileError from Read.
func openTable(dir string, t format.Table, keys *format.Keys, check *fileCheck) (*tableReader, error) {
	r := &tableReader{dir: dir, keys: keys, check: check, parts: t.Parts()}
	if len(r.parts) > 0 {
		if err := r.open(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *tableReader) open() error {
	rc, err := openChecked(r.dir, r.parts[r.i].File, format.EncodingZstd, r.keys, r.check)
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
