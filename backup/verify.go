package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxReported bounds how many damaged files one error lists.
const maxReported = 20

// Verify checks the backup in dir completely, without changing anything:
// the manifest and its checksum, that the directory holds exactly the
// files the manifest lists (no symbolic links), each file's size and
// SHA-256, that every table file decodes to rows of its columns in the
// number recorded, and that every blob decodes to content whose SHA-256
// is its id. It returns the manifest, and an error matching [ErrVerify]
// that names the damaged files, or [ErrNotBackup] or [ErrNewerVersion].
// progress, if not nil, is called as it goes.
//
// An encrypted backup is checked only as far as its public manifest
// goes: every file's size and the SHA-256 of its ciphertext. The returned
// manifest is then [Manifest.Locked]; [VerifyWith] with its keys checks
// the content too.
func Verify(ctx context.Context, dir string, progress func(Progress)) (*Manifest, error) {
	return VerifyWith(ctx, dir, VerifyOptions{Progress: progress})
}

// VerifyOptions configures [VerifyWith].
type VerifyOptions struct {
	// Keys unlock an encrypted backup, so that its content is checked;
	// without them only its files' ciphertext is.
	Keys *Keys
	// Progress, if set, is called as work advances.
	Progress func(Progress)
}

// VerifyWith is [Verify] with options. With keys, an encrypted backup is
// checked as completely as a plain one, and also that its encrypted part
// opens and agrees with manifest.json (an altered public manifest gives
// an error matching [ErrChecksumMismatch]); the result is its full
// manifest. Wrong keys give [ErrWrongKey].
func VerifyWith(ctx context.Context, dir string, opts VerifyOptions) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(ctx, dir, m, opts.Progress); err != nil {
		return m, err
	}
	if m.Encrypted() {
		if opts.Keys == nil {
			return m, nil
		}
		full, err := Unlock(dir, m, opts.Keys)
		if err != nil {
			return m, err
		}
		m = full
	}
	if err := checkContent(ctx, dir, m, m.contentKeys(opts.Keys), opts.Progress); err != nil {
		return m, err
	}
	return m, nil
}

// checkFiles checks that dir holds exactly m's files, with their sizes
// and checksums. It reports every damaged file (up to maxReported), each
// as a [*FileError].
func checkFiles(ctx context.Context, dir string, m *Manifest, progress func(Progress)) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	listed := make(map[string]*File, len(m.Files))
	var total int64
	for i := range m.Files {
		listed[m.Files[i].Path] = &m.Files[i]
		total += m.Files[i].Size
	}
	var errs []error
	add := func(err error) bool {
		errs = append(errs, err)
		return len(errs) < maxReported
	}
	// Everything present must be listed, and no symbolic links.
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if !add(&FileError{Op: "verify", Path: rel, Err: fmt.Errorf("%w: a symbolic link", ErrUnsafePath)}) {
				return fs.SkipAll
			}
			return nil
		}
		if d.IsDir() {
			if rel == "tables" || rel == "blobs" || (strings.HasPrefix(rel, "blobs/") && isShard(rel[len("blobs/"):])) {
				return nil
			}
			if !add(&FileError{Op: "verify", Path: rel + "/", Err: fmt.Errorf("%w: directory not in the manifest", ErrUnexpectedFile)}) {
				return fs.SkipAll
			}
			return fs.SkipDir
		}
		if rel == ManifestName || listed[rel] != nil {
			if !d.Type().IsRegular() {
				if !add(&FileError{Op: "verify", Path: rel, Err: fmt.Errorf("%w: not a regular file", ErrUnsafePath)}) {
					return fs.SkipAll
				}
			}
			return nil
		}
		if !add(&FileError{Op: "verify", Path: rel, Err: fmt.Errorf("%w: not in the manifest", ErrUnexpectedFile),
			Hint: "remove files that were added to the backup, or pick another backup"}) {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	var done int64
	last := time.Now()
	for i, f := range m.Files {
		if len(errs) >= maxReported {
			break
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			add(&FileError{Op: "verify", Path: f.Path, Err: ErrMissingFile, Hint: "the backup is incomplete: pick another backup"})
			continue
		} else if err != nil {
			add(&FileError{Op: "verify", Path: f.Path, Err: err})
			continue
		}
		if !fi.Mode().IsRegular() {
			continue // reported above
		}
		if fi.Size() != f.Size {
			add(&FileError{Op: "verify", Path: f.Path, Err: fmt.Errorf("%w: size %d, manifest says %d (%s)", ErrChecksumMismatch, fi.Size(), f.Size, sizeChange(fi.Size(), f.Size)),
				Hint: "the file was altered or damaged: pick another backup"})
			continue
		}
		sum, _, err := hashFile(p, func(n int64) {
			done += n
			if progress != nil && time.Since(last) > 100*time.Millisecond {
				last = time.Now()
				progress(Progress{Phase: "verify", Items: int64(i), ItemsTotal: int64(len(m.Files)), Bytes: done, BytesTotal: total})
			}
		})
		if err != nil {
			add(&FileError{Op: "verify", Path: f.Path, Err: err})
			continue
		}
		if sum != f.SHA256 {
			add(&FileError{Op: "verify", Path: f.Path, Err: fmt.Errorf("%w: SHA-256 %s, manifest says %s", ErrChecksumMismatch, sum, f.SHA256),
				Hint: "the file was altered or damaged: pick another backup"})
		}
	}
	if progress != nil {
		progress(Progress{Phase: "verify", Items: int64(len(m.Files)), ItemsTotal: int64(len(m.Files)), Bytes: total, BytesTotal: total})
	}
	return joinErrs(errs)
}

// sizeChange describes how a file of size got differs from the want
// bytes its manifest records: only a file that shrank may be truncated.
func sizeChange(got, want int64) string {
	if got < want {
		return fmt.Sprintf("%d bytes short: truncated?", want-got)
	}
	return fmt.Sprintf("%d bytes more: written to or replaced after the backup?", got-want)
}

// joinErrs returns nil, the one error, or all of them joined with a hint
// from the first.
func joinErrs(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	more := ""
	if len(errs) >= maxReported {
		more = " (and perhaps more)"
	}
	return &HintError{
		Err:  fmt.Errorf("%d problems%s: %s: %w", len(errs), more, strings.Join(msgs, "; "), errs[0]),
		Hint: Hint(errs[0]),
	}
}

// checkContent decodes every table and blob file of a backup whose files
// checkFiles accepted. keys is nil for a plain backup.
func checkContent(ctx context.Context, dir string, m *Manifest, keys *Keys, progress func(Progress)) error {
	for i, t := range m.Tables {
		n, err := forEachRow(ctx, dir, t, keys, nil)
		if err != nil {
			return err
		}
		if n != t.Rows {
			return &FileError{Op: "verify", Path: t.where(), Err: fmt.Errorf("%w: %d rows, manifest says %d", ErrMalformed, n, t.Rows)}
		}
		if progress != nil {
			progress(Progress{Phase: "tables", Items: int64(i + 1), ItemsTotal: int64(len(m.Tables))})
		}
	}
	for i, f := range m.Files {
		if f.Blob == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		sum, n, err := decodedHash(dir, f, keys)
		if err != nil {
			return err
		}
		if sum != f.Blob || n != f.RawSize {
			return &FileError{Op: "verify", Path: f.Path, Err: fmt.Errorf("%w: decodes to %d bytes with SHA-256 %s", ErrChecksumMismatch, n, sum)}
		}
		if progress != nil {
			progress(Progress{Phase: "blobs", Items: int64(i + 1), ItemsTotal: int64(len(m.Files))})
		}
	}
	return nil
}

// decodedHash returns the SHA-256 and size of a backup file's decoded
// content.
func decodedHash(dir string, f File, keys *Keys) (string, int64, error) {
	r, err := openContent(dir, f.Path, f.Encoding, keys)
	if err != nil {
		return "", 0, &FileError{Op: "read", Path: f.Path, Err: err}
	}
	defer r.Close()
	hw := newHashingWriter(io.Discard)
	if _, err := copyBuf(hw, r, nil); err != nil {
		return "", 0, &FileError{Op: "decode", Path: f.Path, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	return hw.sum(), hw.n, nil
}

// forEachRow decodes table t's file in dir (keys as for openContent: nil
// for a plain backup) and calls fn (if not nil) with
// each row; it returns the number of rows.
func forEachRow(ctx context.Context, dir string, t Table, keys *Keys, fn func(row []any) error) (int64, error) {
	r, err := openTable(dir, t, keys)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	rr := newRowReader(r, t.Columns)
	for {
		if rr.n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return rr.n, err
			}
		}
		row, err := rr.next()
		if err == io.EOF {
			return rr.n, nil
		}
		if err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				return rr.n, err
			}
			if !errors.Is(err, ErrVerify) {
				err = fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			return rr.n, &FileError{Op: "decode", Path: r.path(), Err: err}
		}
		if fn != nil {
			if err := fn(row); err != nil {
				return rr.n, err
			}
		}
	}
}

// isShard reports whether name is two lowercase hex characters.
func isShard(name string) bool {
	return len(name) == 2 && isHex(name[0]) && isHex(name[1])
}

func isHex(c byte) bool { return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') }
