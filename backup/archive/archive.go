// Package archive turns a backup directory into one tar stream, optionally
// zstd-compressed, and back, for "bitnobi backups export" and
// "bitnobi backups import".
//
// [Write] archives a list of regular files and nothing else. [Extract]
// treats its input as hostile: it accepts only regular files and
// directories with clean relative paths, enforces [Limits] on what it
// really reads rather than on what headers declare, refuses trailing
// garbage and truncation, writes only beneath its destination (through an
// [os.Root]) and removes everything it created when it fails.
//
// An archive says nothing about which files a backup should hold; that is
// the manifest's job. An importer checks each entry against a manifest
// it already has (the allow function of [Extract]: the backup package's
// exports put the manifest first), or, for archives with the manifest
// last, bounds what the entries declare and verifies the result against
// the extracted manifest before using it.
package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Errors returned by [Write] and [Extract], always wrapped in an error
// that names the entry. Check them with [errors.Is].
var (
	// ErrUnsafePath means an entry's name is empty, absolute, has a ".."
	// component, a backslash or a NUL, or is otherwise not a clean
	// slash-separated relative path.
	ErrUnsafePath = errors.New("unsafe path")

	// ErrLink means an entry is a symbolic or hard link.
	ErrLink = errors.New("links not allowed")

	// ErrUnsupportedType means an entry is neither a regular file, a
	// directory nor a link: a device, a FIFO, a sparse file, or a type
	// this package does not know.
	ErrUnsupportedType = errors.New("unsupported entry type")

	// ErrDuplicate means an entry has the same name as an earlier one,
	// or a file entry clashes with a directory of the same name.
	ErrDuplicate = errors.New("duplicate entry")

	// ErrNotAllowed means the allow function of [Extract] rejected an
	// entry. The error also wraps the allow function's own error.
	ErrNotAllowed = errors.New("entry not allowed")

	// ErrTooLarge means an archive exceeds one of its [Limits].
	ErrTooLarge = errors.New("archive exceeds limits")

	// ErrCorrupt means the input is not a well-formed tar or zstd stream:
	// a bad header, data shorter than its header declares, a missing
	// end-of-archive marker, a failed zstd checksum, or data after the end.
	ErrCorrupt = errors.New("corrupt archive")

	// ErrDestNotEmpty means the destination of [Extract] holds files.
	ErrDestNotEmpty = errors.New("destination directory not empty")
)

const (
	filePerm = 0o600
	dirPerm  = 0o700

	// maxWindow bounds the memory a zstd stream may ask the decoder for.
	// Write uses 8 MiB; "zstd -19" uses 8 MiB and "zstd --ultra -22"
	// 128 MiB, which is refused.
	maxWindow = 64 << 20

	// maxTrailing is how many zero bytes may follow the end-of-archive
	// marker: tar tools pad to a record size, 10 KiB by default.
	maxTrailing = 1 << 20

	// entryOverhead is how many bytes of tar stream each entry may use
	// beyond its data, on average: header blocks, PAX records, padding.
	// With the data limits it bounds the whole stream, so that a small
	// zstd input cannot keep Extract busy decompressing an endless run of
	// metadata.
	entryOverhead = 64 << 10

	bufSize = 256 << 10
)

// syncFile flushes a file or directory to stable storage. Tests that
// create thousands of archives, such as the fuzz test, replace it with a
// no-op: fsync dominates their run time and is not what they test.
var syncFile = (*os.File).Sync

// errStreamLimit stops a tar stream longer than the limits allow.
var errStreamLimit = errors.New("stream too long")

// errTruncated explains an [ErrCorrupt] for an archive that ends where an
// entry or the end-of-archive marker should start.
var errTruncated = errors.New("truncated: no end-of-archive marker")

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Limits bounds what [Extract] accepts, so that a hostile archive cannot
// fill the disk or memory. A field of zero or less takes its value from
// [DefaultLimits]. The tar stream as a whole, after decompression, may be
// no longer than MaxTotalSize plus 64 KiB per allowed entry plus 1 MiB of
// end padding, so that a small compressed input cannot keep Extract busy
// with an endless stream of metadata.
type Limits struct {
	// MaxEntries is the largest number of tar entries, directories and
	// PAX global headers included.
	MaxEntries int
	// MaxFileSize is the largest size of one file, in bytes.
	MaxFileSize int64
	// MaxTotalSize is the largest sum of file sizes, in bytes.
	MaxTotalSize int64
	// MaxPathLen is the longest entry name, in bytes.
	MaxPathLen int
}

// DefaultLimits returns limits fit for a Bitnobi backup: a million
// entries, 1 TiB per file, 4 TiB in all and names of up to 1024 bytes.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:   1 << 20,
		MaxFileSize:  1 << 40,
		MaxTotalSize: 4 << 40,
		MaxPathLen:   1024,
	}
}

// maxStream bounds the length of the tar stream: the data, an average
// overhead per entry, and the padding allowed at the end.
func (l Limits) maxStream() int64 {
	const maxInt64 = 1<<63 - 1
	if int64(l.MaxEntries) > (maxInt64-l.MaxTotalSize-maxTrailing-1024)/entryOverhead {
		return maxInt64
	}
	return l.MaxTotalSize + int64(l.MaxEntries)*entryOverhead + maxTrailing + 1024
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = d.MaxFileSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = d.MaxTotalSize
	}
	if l.MaxPathLen <= 0 {
		l.MaxPathLen = d.MaxPathLen
	}
	return l
}

// checkName returns an error wrapping [ErrUnsafePath] unless name is a
// clean, slash-separated, relative path that stays below its root on every
// operating system.
func checkName(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty name"
	case strings.ContainsRune(name, 0):
		why = "name contains NUL"
	case strings.Contains(name, `\`):
		why = "name contains a backslash"
	case strings.HasPrefix(name, "/"):
		why = "absolute path"
	case hasDotDot(name):
		why = "path has a .. component"
	case !fs.ValidPath(name) || name == ".":
		why = "path is not clean (empty, . or trailing-slash components)"
	case !filepath.IsLocal(filepath.FromSlash(name)):
		why = "path is not local on this system"
	default:
		return nil
	}
	return fmt.Errorf("%s: %w", why, ErrUnsafePath)
}

func hasDotDot(name string) bool {
	for elem := range strings.SplitSeq(name, "/") {
		if elem == ".." {
			return true
		}
	}
	return false
}

// Write writes the regular files named in files, read from dir, to w as a
// tar stream, zstd-compressed if compress is true. Names are
// slash-separated paths relative to dir; entries are written in the given
// order, so the caller lists the manifest last. Each entry has mode 0600,
// no owner and the file's modification time in whole seconds. Compression
// uses one zstd frame at the fastest level with a checksum.
//
// Write streams: its memory use does not depend on file sizes. It refuses
// names that [Extract] would refuse, duplicate names, and anything that is
// not a regular file (symbolic links included), and it reads only beneath
// dir. A file whose size changes while it is archived is an error, as
// backups are immutable once written. On error the stream written so far
// is incomplete and the caller should discard it. Write does not close w.
func Write(ctx context.Context, w io.Writer, dir string, files []string, compress bool) (err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	defer root.Close()

	out := w
	if compress {
		zw, zerr := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(true))
		if zerr != nil {
			return fmt.Errorf("write archive: %w", zerr)
		}
		defer func() {
			// Close flushes the frame; on error it only releases resources.
			if cerr := zw.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("write archive: compress: %w", cerr)
			}
		}()
		out = zw
	}

	tw := tar.NewWriter(out)
	buf := make([]byte, bufSize)
	seen := make(map[string]bool, len(files))
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		if err := checkName(name); err != nil {
			return fmt.Errorf("write archive: file %q: %w", name, err)
		}
		if seen[name] {
			return fmt.Errorf("write archive: file %q: listed twice: %w", name, ErrDuplicate)
		}
		seen[name] = true
		if err := writeFile(ctx, tw, root, name, buf); err != nil {
			return fmt.Errorf("write archive: file %q: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// writeFile writes one regular file from root as a tar entry.
func writeFile(ctx context.Context, tw *tar.Writer, root *os.Root, name string, buf []byte) error {
	native := filepath.FromSlash(name)
	lfi, err := root.Lstat(native)
	if err != nil {
		return err
	}
	switch {
	case lfi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("symbolic link: %w", ErrLink)
	case !lfi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%v): %w", lfi.Mode().Type(), ErrUnsupportedType)
	}
	f, err := root.Open(native)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(lfi, fi) {
		return errors.New("file replaced while archiving")
	}

	size := fi.Size()
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     filePerm,
		Size:     size,
		ModTime:  fi.ModTime().UTC().Truncate(time.Second),
		Format:   tar.FormatPAX, // USTAR unless a name is too long for it
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.CopyBuffer(tw, &ctxReader{ctx: ctx, r: io.LimitReader(f, size)}, buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("file shrank from %d to %d bytes while archiving", size, n)
	}
	if m, _ := f.Read(buf[:1]); m != 0 {
		return fmt.Errorf("file grew beyond %d bytes while archiving", size)
	}
	return nil
}

// ctxReader stops reading once ctx is done and remembers the first
// non-EOF error of the reader it wraps, so that an I/O error is not
// reported as a corrupt archive.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// endReader is what the tar reader reads: the archive after any
// decompression. It notes whether the end of the stream was reported: it
// reports io.EOF only on a call that returns no data, so that a tar reader
// that ends with two zero blocks never sees io.EOF, and one that hits the
// end of a truncated archive always does. It also stops after max bytes,
// and when ctx is done.
type endReader struct {
	ctx     context.Context
	r       io.Reader
	n, max  int64
	atEOF   bool // the reader has returned io.EOF
	sawEOF  bool // a Read call has reported io.EOF to our caller
	overMax bool // the stream is longer than max
}

func (e *endReader) Read(p []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, err
	}
	if e.atEOF {
		e.sawEOF = true
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if e.n >= e.max {
		e.overMax = true
		return 0, errStreamLimit
	}
	p = p[:min(int64(len(p)), e.max-e.n)]
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err == io.EOF {
		e.atEOF = true
		if n > 0 {
			return n, nil
		}
		e.sawEOF = true
	}
	return n, err
}

type kind uint8

const (
	kindFile        kind = iota + 1
	kindDir              // a directory entry in the archive
	kindImplicitDir      // a directory created for an entry below it
)

// extractor holds the state of one Extract call.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	src     *ctxReader
	end     *endReader
	allow   func(name string, size int64) error
	lim     Limits
	entries int
	total   int64
	kinds   map[string]kind
	created []string // every file and directory created, in order
	dirs    []string // the directories among them
	files   []string
}

// Extract reads a tar archive, zstd-compressed or not, from r and
// recreates its files under dest, which must be an existing empty
// directory. It returns the slash-separated names of the regular files it
// created, in archive order.
//
// The input is detected as zstd by its magic number (28 B5 2F FD) and
// otherwise read as a plain tar. Only regular files and directories are
// accepted; PAX global headers are ignored. Files are created with
// O_EXCL and mode 0600, directories with mode 0700, whatever the archive
// says; owners and times are not restored. Files and directories are
// synced to disk before Extract returns.
//
// Extract fails, with an error that names the entry and wraps
// [ErrUnsafePath], [ErrLink], [ErrUnsupportedType], [ErrDuplicate],
// [ErrNotAllowed], [ErrTooLarge] or [ErrCorrupt], on: a name that is
// absolute, has a ".." component, a backslash or a NUL, or is not clean;
// a symbolic or hard link, device or FIFO; a name seen before; an entry
// allow rejects; an archive beyond lim (sizes are checked against the
// bytes really read, and nothing is allocated by a declared size); a
// malformed, truncated or checksum-failing stream, or one followed by
// anything but zero padding. On any error it removes everything it created
// under dest.
//
// If allow is not nil it is called for each regular file before the file
// is created, with the entry's name and declared size, and a non-nil
// result rejects the archive. It is not called for directories. Because
// the manifest is the archive's last entry, a caller that trusts no
// manifest in advance passes a nil allow and verifies the extracted files
// against the extracted manifest afterwards.
func Extract(ctx context.Context, r io.Reader, dest string, allow func(name string, size int64) error, lim Limits) (files []string, err error) {
	if err := checkEmpty(dest); err != nil {
		return nil, fmt.Errorf("extract archive: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("extract archive: %w", err)
	}
	defer root.Close()

	x := &extractor{
		ctx:   ctx,
		root:  root,
		src:   &ctxReader{ctx: ctx, r: r},
		allow: allow,
		lim:   lim.withDefaults(),
		kinds: make(map[string]kind),
	}
	defer func() {
		if err != nil {
			if cerr := x.cleanup(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			files = nil
		}
	}()
	if err := x.run(); err != nil {
		return nil, fmt.Errorf("extract archive: %w", err)
	}
	return x.files, nil
}

// checkEmpty returns an error unless dir is an existing, empty directory.
func checkEmpty(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "open", Path: dir, Err: errors.New("not a directory")}
	}
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("%s: %w", dir, ErrDestNotEmpty)
	}
	return nil
}

func (x *extractor) run() error {
	br := bufio.NewReaderSize(x.src, bufSize)
	var stream io.Reader = br
	magic, err := br.Peek(len(zstdMagic))
	if err != nil && err != io.EOF {
		return x.corrupt(err, "read header")
	}
	if bytes.Equal(magic, zstdMagic) {
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxWindow))
		if err != nil {
			return fmt.Errorf("decompress: %w", err)
		}
		defer zr.Close()
		stream = zr
	}

	x.end = &endReader{ctx: x.ctx, r: stream, max: x.lim.maxStream()}
	tr := tar.NewReader(x.end)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			// Only with GODEBUG=tarinsecurepath=0; check it our way.
			err = nil
		}
		if err != nil {
			return x.corrupt(err, x.after(last))
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
		last = hdr.Name
	}
	if x.end.sawEOF {
		return x.corrupt(errTruncated, x.after(last))
	}
	return x.finish(x.end)
}

// after says where in the archive the entry after last starts.
func (x *extractor) after(last string) string {
	if last == "" {
		return "first entry"
	}
	return fmt.Sprintf("entry after %q", last)
}

// corrupt reports err, met while reading the archive, as a cancellation,
// an I/O error of the source, or [ErrCorrupt].
func (x *extractor) corrupt(err error, where string) error {
	if cerr := x.ctx.Err(); cerr != nil {
		return cerr
	}
	if x.src.err != nil {
		return fmt.Errorf("read: %w", x.src.err)
	}
	if x.end != nil && x.end.overMax {
		return fmt.Errorf("%s: tar stream longer than %d bytes: %w", where, x.end.max, ErrTooLarge)
	}
	return fmt.Errorf("%s: %w: %w", where, ErrCorrupt, err)
}

// finish checks what follows the end-of-archive marker, then syncs the
// directories.
func (x *extractor) finish(rest io.Reader) error {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		m, err := rest.Read(buf)
		if bytes.ContainsFunc(buf[:m], func(r rune) bool { return r != 0 }) {
			return x.corrupt(errors.New("data after the end-of-archive marker"), "end of archive")
		}
		n += int64(m)
		if n > maxTrailing {
			return x.corrupt(fmt.Errorf("more than %d bytes of padding", maxTrailing), "end of archive")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.corrupt(err, "end of archive")
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		if err := syncDir(x.root, x.dirs[i]); err != nil {
			return err
		}
	}
	return syncDir(x.root, ".")
}

func syncDir(root *os.Root, name string) error {
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := syncFile(d); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	return nil
}

// entry checks and creates one archive entry; r reads its data.
func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return fmt.Errorf("entry %d %q: more than %d entries: %w", x.entries, hdr.Name, x.lim.MaxEntries, ErrTooLarge)
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // archive-wide PAX defaults; nothing to create
	}
	name := hdr.Name
	if len(name) > x.lim.MaxPathLen {
		return fmt.Errorf("entry %q: name of %d bytes, more than %d: %w", name[:min(len(name), 64)]+"...", len(name), x.lim.MaxPathLen, ErrTooLarge)
	}
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if err := checkName(name); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}

	switch hdr.Typeflag {
	case tar.TypeReg:
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return fmt.Errorf("entry %q: sparse file: %w", name, ErrUnsupportedType)
			}
		}
		return x.file(name, hdr.Size, r)
	case tar.TypeDir:
		if hdr.Size != 0 {
			return fmt.Errorf("entry %q: directory with %d bytes of data: %w", name, hdr.Size, ErrCorrupt)
		}
		return x.dir(name)
	case tar.TypeSymlink:
		return fmt.Errorf("entry %q: symbolic link to %q: %w", name, hdr.Linkname, ErrLink)
	case tar.TypeLink:
		return fmt.Errorf("entry %q: hard link to %q: %w", name, hdr.Linkname, ErrLink)
	case tar.TypeChar:
		return fmt.Errorf("entry %q: character device: %w", name, ErrUnsupportedType)
	case tar.TypeBlock:
		return fmt.Errorf("entry %q: block device: %w", name, ErrUnsupportedType)
	case tar.TypeFifo:
		return fmt.Errorf("entry %q: FIFO: %w", name, ErrUnsupportedType)
	default:
		return fmt.Errorf("entry %q: type %q: %w", name, hdr.Typeflag, ErrUnsupportedType)
	}
}

// clash returns an error wrapping [ErrDuplicate] if name, or one of its
// parents, cannot be created given the entries seen so far.
func (x *extractor) clash(name string, isDir bool) error {
	switch x.kinds[name] {
	case kindFile, kindDir:
		return fmt.Errorf("entry %q: %w", name, ErrDuplicate)
	case kindImplicitDir:
		if !isDir {
			return fmt.Errorf("entry %q: file where an earlier entry has a directory: %w", name, ErrDuplicate)
		}
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if x.kinds[p] == kindFile {
			return fmt.Errorf("entry %q: parent %q is a file: %w", name, p, ErrDuplicate)
		}
	}
	return nil
}

// mkdirs creates the missing parents of name.
func (x *extractor) mkdirs(name string) error {
	var missing []string
	for p := path.Dir(name); p != "." && x.kinds[p] == 0; p = path.Dir(p) {
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := x.mkdir(missing[i], kindImplicitDir); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
	}
	return nil
}

func (x *extractor) mkdir(name string, k kind) error {
	if err := x.root.Mkdir(filepath.FromSlash(name), dirPerm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Two names the file system folds together, such as "A" and "a".
			return fmt.Errorf("directory %q exists: %w", name, ErrDuplicate)
		}
		return err
	}
	x.kinds[name] = k
	x.created = append(x.created, name)
	x.dirs = append(x.dirs, name)
	return nil
}

func (x *extractor) dir(name string) error {
	if err := x.clash(name, true); err != nil {
		return err
	}
	if x.kinds[name] == kindImplicitDir {
		x.kinds[name] = kindDir
		return nil
	}
	if err := x.mkdirs(name); err != nil {
		return err
	}
	if err := x.mkdir(name, kindDir); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	return nil
}

func (x *extractor) file(name string, size int64, r io.Reader) error {
	if size > x.lim.MaxFileSize {
		return fmt.Errorf("entry %q: size %d, more than %d: %w", name, size, x.lim.MaxFileSize, ErrTooLarge)
	}
	if size > x.lim.MaxTotalSize-x.total {
		return fmt.Errorf("entry %q: archive holds more than %d bytes: %w", name, x.lim.MaxTotalSize, ErrTooLarge)
	}
	if err := x.clash(name, false); err != nil {
		return err
	}
	if x.allow != nil {
		if err := x.allow(name, size); err != nil {
			return fmt.Errorf("entry %q: %w: %w", name, ErrNotAllowed, err)
		}
	}
	if err := x.mkdirs(name); err != nil {
		return err
	}

	f, err := x.root.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("entry %q: file exists: %w", name, ErrDuplicate)
		}
		return fmt.Errorf("entry %q: %w", name, err)
	}
	x.kinds[name] = kindFile
	x.created = append(x.created, name)
	if err := x.copy(f, name, size, r); err != nil {
		f.Close()
		return err
	}
	if err := syncFile(f); err != nil {
		f.Close()
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	x.total += size
	x.files = append(x.files, name)
	return nil
}

// copy copies exactly size bytes of entry data from r to f, telling read
// errors (a corrupt or truncated archive) from write errors.
func (x *extractor) copy(f *os.File, name string, size int64, r io.Reader) error {
	rr := &ctxReader{ctx: x.ctx, r: r}
	n, err := io.CopyN(f, rr, size)
	switch {
	case rr.err != nil:
		return x.corrupt(rr.err, fmt.Sprintf("entry %q: read %d of %d bytes", name, n, size))
	case err == io.EOF || (err == nil && n != size):
		return x.corrupt(io.ErrUnexpectedEOF, fmt.Sprintf("entry %q: read %d of %d bytes", name, n, size))
	case err != nil:
		if cerr := x.ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("entry %q: %w", name, err)
	}
	return nil
}

// cleanup removes everything Extract created, newest first, so that
// directories are empty when their turn comes.
func (x *extractor) cleanup() error {
	var errs []error
	for i := len(x.created) - 1; i >= 0; i-- {
		if err := x.root.Remove(filepath.FromSlash(x.created[i])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove partial extraction: %w", errors.Join(errs...))
	}
	return nil
}
