package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi/internal/fsutil"
)

// Errors returned by [Store] methods. Check them with [errors.Is].
var (
	// ErrNotFound means no blob with the given id is stored.
	ErrNotFound = errors.New("blob not found")

	// ErrInvalidID means a string is not a lowercase hex SHA-256 (see
	// [ValidID]). It protects against ids such as "../x" that would
	// escape the store directory.
	ErrInvalidID = errors.New("invalid blob id")

	// ErrTooLarge means [Store.Put] read more bytes than its limit.
	ErrTooLarge = errors.New("blob too large")

	// ErrChecksumMismatch means a file's SHA-256 is not the id it was
	// meant to be stored under.
	ErrChecksumMismatch = errors.New("blob checksum mismatch")
)

const (
	// idLen is the length of a hex SHA-256.
	idLen = 2 * sha256.Size

	// tmpDirName is the folder, inside Store.Dir, that holds files being
	// written. It can never clash with a two-character shard folder.
	tmpDirName = "tmp"

	// bufSize is the copy buffer size: large enough that a multi-GiB blob
	// needs few system calls, small enough to keep one per concurrent Put.
	bufSize = 1 << 20

	dirPerm = 0o700
)

// bufPool reuses copy buffers across calls, so a busy server does not
// allocate 1 MiB per upload.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// ValidID reports whether s is a blob id: exactly 64 lowercase hex
// characters. Only valid ids are ever turned into file paths.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// Store is a content-addressed file store rooted at Dir. The zero value is
// not usable; create one with [NewStore]. A Store holds no open files and
// is safe for concurrent use by multiple goroutines and processes.
type Store struct {
	// Dir is the root folder. It and its sub-folders are created on
	// first write with mode 0700.
	Dir string

	// Now returns the current time. [Store.CleanTemp] uses it to decide
	// which temporary files are stale. Tests may replace it.
	Now func() time.Time

	// NoSync makes [Store.Put] and [Store.Link] skip their fsyncs, for a
	// store that nothing uses before its builder has fsynced it as a
	// whole (a restore's staging directory): the data then reaches the
	// disk in one pass at the end instead of one wait per blob. A crash
	// before that sync may leave a blob file with other content than its
	// name says, so no other store may set it.
	NoSync bool
}

// NewStore returns a Store rooted at dir, using [time.Now] as its clock.
// It touches nothing on disk.
func NewStore(dir string) *Store {
	return &Store{Dir: dir, Now: time.Now}
}

// Path returns the file path of the blob id, whether or not it is stored.
// It returns "" if id is not valid (see [ValidID]), so an untrusted id can
// never name a file outside Dir.
func (s *Store) Path(id string) string {
	if !ValidID(id) {
		return ""
	}
	return filepath.Join(s.Dir, id[:2], id)
}

func (s *Store) tmpDir() string { return filepath.Join(s.Dir, tmpDirName) }

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Put stores the content read from r and returns its id and size.
//
// The content is streamed through a fixed buffer into a temporary file in
// Dir/tmp (mode 0600) while being hashed, so it is never held in memory.
// If r yields more than limit bytes, Put stops reading and returns an
// error wrapping [ErrTooLarge]; a limit <= 0 means no limit. Put checks ctx
// before reading each chunk and returns ctx.Err() wrapped if it is done.
//
// On success the file has been fsynced and renamed to its final path, and
// that directory fsynced. If the blob was already stored, Put keeps the
// existing file. On any error the temporary file is removed.
func (s *Store) Put(ctx context.Context, r io.Reader, limit int64) (id string, size int64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	if err := os.MkdirAll(s.tmpDir(), dirPerm); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	f, err := os.CreateTemp(s.tmpDir(), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()

	src := io.Reader(&ctxReader{ctx: ctx, r: r})
	if limit > 0 && limit < math.MaxInt64 {
		// Read one byte past the limit to tell "exactly limit" from
		// "more than limit".
		src = io.LimitReader(src, limit+1)
	}
	h := sha256.New()
	size, err = copyHashed(f, h, src)
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	if limit > 0 && size > limit {
		return "", 0, fmt.Errorf("put blob: %w: more than %d bytes", ErrTooLarge, limit)
	}
	id = hex.EncodeToString(h.Sum(nil))
	if err := s.sync(f); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", id, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", id, err)
	}
	if err := s.install(tmp, id); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", id, err)
	}
	return id, size, nil
}

// install moves the complete, fsynced file tmp to the final path of id. If
// that path already exists the content is the same, so tmp is removed.
// On error the caller removes tmp.
func (s *Store) install(tmp, id string) error {
	final := s.Path(id)
	shard := filepath.Dir(final)
	newShard := false
	switch err := os.Mkdir(shard, dirPerm); {
	case err == nil:
		newShard = true
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	if _, err := os.Lstat(final); err == nil {
		// Refresh the existing file's time: the garbage collector spares
		// young files, so content put again now is not collected in the
		// moment before the caller records a reference to it.
		now := s.now()
		if err := os.Chtimes(final, now, now); err != nil {
			return err
		}
		return os.Remove(tmp)
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if s.NoSync {
		return nil
	}
	if err := fsutil.SyncDir(shard); err != nil {
		return err
	}
	if newShard {
		// The new shard folder's own entry lives in Dir.
		return fsutil.SyncDir(s.Dir)
	}
	return nil
}

// sync fsyncs f unless s.NoSync is set.
func (s *Store) sync(f *os.File) error {
	if s.NoSync {
		return nil
	}
	return f.Sync()
}

// Open opens the blob id for reading. It returns an error wrapping
// [ErrInvalidID] for an invalid id and [ErrNotFound] if the blob is not
// stored. The caller must close the file.
func (s *Store) Open(id string) (*os.File, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("open blob %q: %w", id, ErrInvalidID)
	}
	f, err := os.Open(s.Path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", id, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", id, err)
	}
	return f, nil
}

// Stat returns the size in bytes of the blob id. It returns the same
// errors as [Store.Open].
func (s *Store) Stat(id string) (int64, error) {
	if !ValidID(id) {
		return 0, fmt.Errorf("stat blob %q: %w", id, ErrInvalidID)
	}
	fi, err := os.Stat(s.Path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("stat blob %s: %w", id, ErrNotFound)
	} else if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", id, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("stat blob %s: not a regular file", id)
	}
	return fi.Size(), nil
}

// Remove deletes the blob id. It returns an error wrapping [ErrNotFound]
// if the blob is not stored, so callers that do not care can ignore that
// case with [errors.Is].
func (s *Store) Remove(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("remove blob %q: %w", id, ErrInvalidID)
	}
	err := os.Remove(s.Path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob %s: %w", id, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("remove blob %s: %w", id, err)
	}
	return nil
}

// Walk calls fn for every stored blob, in id order, with its size and
// modification time. It skips Dir/tmp and any file or folder whose name is
// not a blob id in its right shard. A Store whose Dir does not exist yet
// is empty.
//
// Walk reads each shard's listing before calling fn for its blobs, so fn
// may remove the blob it is given. Blobs added or removed by others during
// the walk may or may not be visited. If fn returns an error, Walk stops
// and returns that error unchanged.
func (s *Store) Walk(fn func(id string, size int64, modTime time.Time) error) error {
	shards, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, shard := range shards {
		name := shard.Name()
		if !shard.IsDir() || !isShard(name) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.Dir, name))
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, e := range entries {
			id := e.Name()
			if !ValidID(id) || id[:2] != name || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			} else if err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			if err := fn(id, fi.Size(), fi.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// isShard reports whether name could be a shard folder: two lowercase hex
// characters.
func isShard(name string) bool {
	return len(name) == 2 && isHex(name[0]) && isHex(name[1])
}

func isHex(c byte) bool { return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') }

// CleanTemp removes temporary files in Dir/tmp last modified more than
// olderThan ago, as measured by Now. They are left by interrupted writes.
// Pick olderThan well above the longest upload you expect, since a file
// still being written by [Store.Put] looks the same as an abandoned one.
// CleanTemp keeps going after an error and returns all errors joined.
func (s *Store) CleanTemp(olderThan time.Duration) error {
	entries, err := os.ReadDir(s.tmpDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("clean blob temp files: %w", err)
	}
	cutoff := s.now().Add(-olderThan)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.ModTime().Before(cutoff) {
			continue
		}
		err = os.Remove(filepath.Join(s.tmpDir(), e.Name()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean blob temp files: %w", err)
	}
	return nil
}

// Link stores the file at srcPath as the blob id, for example when a
// restore has extracted blobs next to the store. It first tries a hard
// link, which costs no copy; if that fails (another file system, or one
// without hard links) it copies the file instead.
//
// Link hashes what it installs and returns an error wrapping
// [ErrChecksumMismatch] if the SHA-256 is not id, leaving nothing behind.
// If the blob is already stored, Link still verifies srcPath and keeps the
// existing file.
//
// A hard-linked blob shares its inode, and so its content and mode, with
// srcPath: the caller must not modify srcPath afterwards, and should make
// it mode 0600 if the blob is private. Removing srcPath is fine.
func (s *Store) Link(id, srcPath string) error {
	if !ValidID(id) {
		return fmt.Errorf("link blob %q: %w", id, ErrInvalidID)
	}
	if err := os.MkdirAll(s.tmpDir(), dirPerm); err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	fi, err := os.Stat(srcPath)
	if err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("link blob %s: %s is not a regular file", id, srcPath)
	}

	tmp := filepath.Join(s.tmpDir(), "link-"+rand.Text())
	if err := os.Link(srcPath, tmp); err != nil {
		return s.copyFrom(id, srcPath)
	}
	// Hash the link rather than srcPath: it is what gets installed.
	if err := s.verifyAndInstall(tmp, id); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	return nil
}

// verifyAndInstall hashes and fsyncs the file tmp and installs it as id.
func (s *Store) verifyAndInstall(tmp, id string) error {
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	got, _, err := hashReader(f)
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("%w: content hashes to %s", ErrChecksumMismatch, got)
	}
	// The data may still only be in the page cache if whoever wrote
	// srcPath did not fsync it. Syncing a read-only descriptor is allowed.
	if err := s.sync(f); err != nil {
		return err
	}
	return s.install(tmp, id)
}

// copyFrom is the fallback of Link when a hard link is not possible.
func (s *Store) copyFrom(id, srcPath string) (err error) {
	src, err := os.Open(srcPath)
	if err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	defer src.Close()
	f, err := os.CreateTemp(s.tmpDir(), "link-*")
	if err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	if _, err := copyHashed(f, h, src); err != nil {
		return fmt.Errorf("link blob %s: copy %s: %w", id, srcPath, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != id {
		return fmt.Errorf("link blob %s: %w: %s hashes to %s", id, ErrChecksumMismatch, srcPath, got)
	}
	if err := s.sync(f); err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	if err := s.install(tmp, id); err != nil {
		return fmt.Errorf("link blob %s: %w", id, err)
	}
	return nil
}

// HashFile returns the blob id (lowercase hex SHA-256) and size of the
// file at path, reading it in fixed-size chunks.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash file: %w", err)
	}
	defer f.Close()
	id, n, err := hashReader(f)
	if err != nil {
		return "", 0, fmt.Errorf("hash file %s: %w", path, err)
	}
	return id, n, nil
}

func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := copyHashed(io.Discard, h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// copyHashed copies r to w through a pooled buffer, feeding h as well.
func copyHashed(w io.Writer, h hash.Hash, r io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	// Wrapping both sides hides ReaderFrom/WriterTo, which would bypass
	// the buffer (and, for *os.File, the hash).
	return io.CopyBuffer(hashWriter{w: w, h: h}, onlyReader{r}, *bp)
}

type hashWriter struct {
	w io.Writer
	h hash.Hash
}

func (hw hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n]) // never returns an error
	return n, err
}

type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// ctxReader fails with ctx.Err() once ctx is done, checked before each
// read so a long upload stops within one chunk of cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
