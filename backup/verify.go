package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/bitnobi/bitnobi/backup/format"
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
// opts.Progress, if not nil, is called as it goes.
//
// An encrypted backup is checked only as far as its public manifest
// goes, without opts.Keys: every file's size and the SHA-256 of its
// ciphertext. The returned manifest is then [format.Manifest.Locked].
// With opts.Keys, an encrypted backup is checked as completely as a plain
// one, and also that its encrypted part opens and agrees with
// manifest.json (an altered public manifest gives an error matching
// [ErrChecksumMismatch]); the result is its full manifest. Wrong keys
// give [ErrWrongKey].
//
// With opts.Deep, Verify then restores the backup into a temporary data
// directory and checks the restored state too (see [VerifyOptions].Deep).
func Verify(ctx context.Context, dir string, opts VerifyOptions) (*format.Manifest, error) {
	if opts.Deep {
		return verifyDeep(ctx, dir, opts)
	}
	return verify(ctx, dir, opts)
}

// VerifyOptions configures [Verify].
type VerifyOptions struct {
	// Keys unlock an encrypted backup, so that its content is checked;
	// without them only its files' ciphertext is. An encrypted backup
	// carries its master key, so Deep needs them for it.
	Keys *format.Keys
	// Progress, if set, is called as work advances.
	Progress func(Progress)
	// Cache, if set, is shared by the verifications of one run (such as
	// "backups verify --all"), so that a file hard-linked into several
	// backups is read once.
	Cache *VerifyCache

	// Deep, after the checks above, restores the backup with [Restore]
	// into a temporary data directory, which it removes after, and checks
	// the restored state: every foreign key resolves
	// ([store.Dialect].BrokenReferences), every row of the blobs table has
	// its file with the SHA-256 and size recorded, and the audit log's
	// hash chain verifies. So it answers "will this backup restore?" for a
	// backup whose files are intact but whose content does not hold
	// together, such as a table file rewritten, with a manifest to match,
	// to refer to a user who is not there.
	//
	// An error about the backup then matches [ErrVerify]
	// ([ErrTrialRestore] for what only the trial restore found); a missing
	// or wrong key gives the errors of [Restore] ([ErrKeyMissing],
	// [ErrKeyUnusable], [ErrKeyMismatch], [ErrKeyRequired],
	// [ErrWrongKey]), which say nothing about the backup.
	Deep bool
	// KeyFile is, with Deep, the master key the trial restore of a plain
	// backup needs, as for [RestoreOptions].KeyFile; it must be the one
	// the backup was made with. Required for a plain backup: the
	// temporary data directory holds no key.
	KeyFile string
	// TempDir is, with Deep, where the temporary data directory is made
	// ("" means os.TempDir()). It needs room for the restored state.
	TempDir string
	// Local, with Deep, builds and opens the trial restore's database
	// file; nil means the registered engine (see [LocalDB]).
	Local LocalDB
}

// VerifyCache remembers, for the verifications of one run, the files
// found intact, so that a file hard-linked into several backups (the
// unchanged blobs and tables of consecutive backups) is read once: a file
// is skipped when a check that expected the same of it (the same SHA-256
// on disk; the same rows, columns and encoding, or the same blob) passed
// on the same file, that is the same device and inode, with the same size
// and modification time. Keep one for one run, with the same keys, only:
// it trusts that the files do not change meanwhile, as verify does of any
// file it reads. Safe for concurrent use.
type VerifyCache struct {
	mu     sync.Mutex
	passed map[verifiedKey]bool
	files  int64 // files skipped
	bytes  int64 // their bytes on disk
}

// NewVerifyCache returns an empty cache.
func NewVerifyCache() *VerifyCache { return &VerifyCache{passed: map[verifiedKey]bool{}} }

// Reused returns how many files, and bytes of them on disk, the
// verifications sharing c did not read again.
func (c *VerifyCache) Reused() (files, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files, c.bytes
}

// verifiedKey is one check of one file: what it expected of the file
// with identity id, size and modification time.
type verifiedKey struct {
	id    fileID
	size  int64
	mtime int64
	check string
}

// key returns the key of check on the file at path, or false when the
// cache cannot tell its identity (no cache, or a system without inodes).
func (c *VerifyCache) key(path, check string) (verifiedKey, bool) {
	if c == nil {
		return verifiedKey{}, false
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return verifiedKey{}, false
	}
	id, links, ok := fileLinks(fi)
	if !ok || links < 2 { // a file with one name is in one backup only
		return verifiedKey{}, false
	}
	return verifiedKey{id: id, size: fi.Size(), mtime: fi.ModTime().UnixNano(), check: check}, true
}

// skip reports whether check passed on the file at path before, and
// then, if counted, counts the file as reused (each file counts once, by
// its first check); it returns the key to [VerifyCache.pass] after the
// check otherwise.
func (c *VerifyCache) skip(path, check string, counted bool) (verifiedKey, bool) {
	k, ok := c.key(path, check)
	if !ok {
		return k, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.passed[k] {
		if counted {
			c.files++
			c.bytes += k.size
		}
		return k, true
	}
	return k, false
}

// pass records that the check of k passed.
func (c *VerifyCache) pass(k verifiedKey) {
	if c == nil || k == (verifiedKey{}) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passed[k] = true
}

// verify is [Verify] without Deep.
func verify(ctx context.Context, dir string, opts VerifyOptions) (*format.Manifest, error) {
	m, err := format.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(ctx, dir, m, opts.Cache, opts.Progress); err != nil {
		return m, err
	}
	if m.Encrypted() {
		if opts.Keys == nil {
			return m, nil
		}
		full, err := format.Unlock(dir, m, opts.Keys)
		if err != nil {
			return m, err
		}
		m = full
	}
	if err := checkSchema(ctx, m); err != nil {
		return m, err
	}
	if err := checkContent(ctx, dir, m, m.ContentKeys(opts.Keys), opts.Cache, opts.Progress); err != nil {
		return m, err
	}
	return m, nil
}

// checkFiles checks that dir holds exactly m's files, with their sizes
// and checksums. It reports every damaged file (up to maxReported), each
// as a [*FileError]. A file that cache says passed is not read again.
func checkFiles(ctx context.Context, dir string, m *format.Manifest, cache *VerifyCache, progress func(Progress)) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	listed := make(map[string]*format.File, len(m.Files))
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
			if rel == "tables" || rel == "blobs" || (strings.HasPrefix(rel, "blobs/") && format.IsShard(rel[len("blobs/"):])) {
				return nil
			}
			if !add(&FileError{Op: "verify", Path: rel + "/", Err: fmt.Errorf("%w: directory not in the manifest", ErrUnexpectedFile)}) {
				return fs.SkipAll
			}
			return fs.SkipDir
		}
		if rel == format.ManifestName || listed[rel] != nil {
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
		k, skip := cache.skip(p, "sha256 "+f.SHA256, true)
		if skip {
			done += f.Size
			continue
		}
		sum, _, err := format.HashFile(p, func(n int64) {
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
			continue
		}
		cache.pass(k)
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
// checkFiles accepted. keys is nil for a plain backup. A file that cache
// says passed the same check is not decoded again; for that, each segment
// of a table is checked on its own.
func checkContent(ctx context.Context, dir string, m *format.Manifest, keys *format.Keys, cache *VerifyCache, progress func(Progress)) error {
	encoding := ""
	if m.Encrypted() && cache != nil {
		// Which keys decrypt the files is part of what a content check
		// found: in passphrase mode each backup has its own file
		// identity, and a file that opened with one backup's need not
		// open with another's.
		ids, err := format.FileIdentities(dir, keys)
		if err != nil {
			return err
		}
		encoding = format.EncodingAge + " " + identitiesTag(ids) + " "
	}
	for i, t := range m.Tables {
		// Segment by segment, so that each one's facts (raw_size, keys,
		// last_row_sha256) are checked against its own rows.
		parts := []format.Table{t}
		if len(t.Segments) > 1 {
			parts = parts[:0]
			for _, s := range t.Segments {
				p := t
				p.Segments, p.Rows, p.RawSize = []format.Segment{s}, s.Rows, s.RawSize
				parts = append(parts, p)
			}
		}
		for _, p := range parts {
			var k verifiedKey
			if ps := p.Parts(); len(ps) == 1 {
				var skip bool
				s := ps[0]
				check := fmt.Sprintf("rows %s%d %q %d %v %d %d %s %s %s", encoding, p.Rows, p.Columns, s.RawSize, s.Keys, s.First, s.Last, s.LastRowSHA256, p.PrimaryKey, m.InstanceID)
				if k, skip = cache.skip(filepath.Join(dir, filepath.FromSlash(ps[0].File)), check, false); skip {
					continue
				}
			}
			if _, err := checkSegmentFacts(ctx, dir, m, p, keys); err != nil {
				return err
			}
			cache.pass(k)
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
		k, skip := cache.skip(filepath.Join(dir, filepath.FromSlash(f.Path)), fmt.Sprintf("blob %s%s %s %d", encoding, f.Encoding, f.Blob, f.RawSize), false)
		if !skip {
			sum, n, err := decodedHash(dir, f, keys)
			if err != nil {
				return err
			}
			if sum != f.Blob || n != f.RawSize {
				return &FileError{Op: "verify", Path: f.Path, Err: fmt.Errorf("%w: decodes to %d bytes with SHA-256 %s", ErrChecksumMismatch, n, sum)}
			}
			cache.pass(k)
		}
		if progress != nil {
			progress(Progress{Phase: "blobs", Items: int64(i + 1), ItemsTotal: int64(len(m.Files))})
		}
	}
	return nil
}

// identitiesTag names a set of age identities for [VerifyCache]: the
// SHA-256 of their public keys (of their types, for identities without
// one, such as a passphrase's), in hex.
func identitiesTag(ids []age.Identity) string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			names = append(names, x.Recipient().String())
		} else {
			names = append(names, fmt.Sprintf("%T", id))
		}
	}
	slices.Sort(names)
	sum := sha256.Sum256([]byte(strings.Join(names, "\n")))
	return hex.EncodeToString(sum[:8])
}

// decodedHash returns the SHA-256 and size of a backup file's decoded
// content.
func decodedHash(dir string, f format.File, keys *format.Keys) (string, int64, error) {
	r, err := format.OpenContent(dir, f.Path, f.Encoding, keys)
	if err != nil {
		return "", 0, &FileError{Op: "read", Path: f.Path, Err: err}
	}
	defer r.Close()
	hw := format.NewHashingWriter(io.Discard)
	if _, err := format.CopyBuf(hw, r, nil); err != nil {
		return "", 0, &FileError{Op: "decode", Path: f.Path, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	return hw.Sum(), hw.N, nil
}

// forEachRow decodes table t's file in dir (keys as for [format.OpenContent]: nil
// for a plain backup) and calls fn (if not nil) with
// each row; it returns the number of rows.
func forEachRow(ctx context.Context, dir string, t format.Table, keys *format.Keys, fn func(row []any) error) (int64, error) {
	r, err := openTable(dir, t, keys)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	rr := format.NewRowReader(r, t.Columns)
	for {
		if rr.Lines()%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return rr.Lines(), err
			}
		}
		row, err := rr.Next()
		if err == io.EOF {
			return rr.Lines(), nil
		}
		if err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				return rr.Lines(), err
			}
			if !errors.Is(err, ErrVerify) {
				err = fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			return rr.Lines(), &FileError{Op: "decode", Path: r.path(), Err: err}
		}
		if fn != nil {
			if err := fn(row); err != nil {
				return rr.Lines(), err
			}
		}
	}
}
