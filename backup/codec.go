package backup

import (
	"io"

	"github.com/bitnobi/bitnobi/backup/format"
)

// tableReader reads the decoded content of a table's files, its segments
// one after the other (see [format.Table.Parts]): together, the table's lines.
type tableReader struct {
	dir   string
	keys  *format.Keys
	parts []format.Segment
	i     int
	cur   io.ReadCloser
}

// openTable opens the decoded content of t's files in dir; keys as for
// [format.OpenContent]. The first file is opened at once, so that a missing or
// undecryptable file is reported here; the others as they are reached,
// as a *FileError from Read.
func openTable(dir string, t format.Table, keys *format.Keys) (*tableReader, error) {
	r := &tableReader{dir: dir, keys: keys, parts: t.Parts()}
	if len(r.parts) > 0 {
		if err := r.open(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *tableReader) open() error {
	rc, err := format.OpenContent(r.dir, r.parts[r.i].File, format.EncodingZstd, r.keys)
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
