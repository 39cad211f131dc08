package offsite

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
)

// WriteArchive writes the complete remote backup name to w as the tar
// archive "bitnobi backups export" writes (uncompressed): every file of
// its manifest, in the manifest's order, then manifest.json last. An
// object whose size is not the manifest's stops it with an error
// matching [backup.ErrChecksumMismatch]; the SHA-256 of each file is for
// the reader to check ([backup.Import] and [backup.Unpack] do).
func (r *Remote) WriteArchive(ctx context.Context, name string, w io.Writer, progress func(backup.Progress)) (*format.Manifest, error) {
	m, data, err := r.Manifest(ctx, name)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(w)
	prog := backup.Progress{Phase: "download", ItemsTotal: int64(len(m.Files)) + 1}
	for _, f := range m.Files {
		prog.BytesTotal += f.Size
	}
	mtime := m.CreatedAt.UTC().Truncate(time.Second)
	for _, f := range m.Files {
		if err := r.copyObject(ctx, tw, f, mtime, func(n int64) {
			prog.Bytes += n
			if progress != nil {
				progress(prog)
			}
		}); err != nil {
			return m, err
		}
		prog.Items++
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: format.ManifestName, Mode: 0o600, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return m, err
	}
	if _, err := tw.Write(data); err != nil {
		return m, err
	}
	// No progress call from here on: the reader may be verifying, and
	// reporting its own progress, as soon as it has the last bytes.
	if err := tw.Close(); err != nil {
		return m, err
	}
	return m, nil
}

// copyObject writes the object of f to tw as the entry f.Path.
func (r *Remote) copyObject(ctx context.Context, tw *tar.Writer, f format.File, mtime time.Time, progress func(int64)) error {
	key := r.dataKey(f.SHA256)
	obj, err := r.client.GetObject(ctx, r.t.Bucket, key, r.getOpts())
	if err != nil {
		return r.classify("download "+key, err)
	}
	defer obj.Close()
	info, err := obj.Stat()
	if isNotFound(err) {
		return &backup.FileError{Op: "download", Path: f.Path,
			Err:  fmt.Errorf("%w: object %s is not in the bucket", backup.ErrMissingFile, key),
			Hint: "push the backup again from a machine that holds it: bitnobi backups push"}
	}
	if err != nil {
		return r.classify("download "+key, err)
	}
	if info.Size != f.Size {
		return &backup.FileError{Op: "download", Path: f.Path,
			Err: fmt.Errorf("%w: object %s holds %d bytes, the manifest says %d", backup.ErrChecksumMismatch, key, info.Size, f.Size)}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: 0o600, Size: f.Size, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, &progressReader{r: io.LimitReader(obj, f.Size), fn: progress})
	if err != nil {
		return r.classify("download "+key, err)
	}
	if n != f.Size {
		return &backup.FileError{Op: "download", Path: f.Path,
			Err: fmt.Errorf("%w: object %s ended after %d bytes, the manifest says %d", backup.ErrChecksumMismatch, key, n, f.Size)}
	}
	return nil
}

// stream runs WriteArchive into a pipe and hands its reading end to
// consume. The archive's own error (a missing object, the storage gone)
// is returned in preference to what consume makes of the cut stream.
func (r *Remote) stream(ctx context.Context, name string, progress func(backup.Progress), consume func(io.Reader) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := r.WriteArchive(ctx, name, pw, progress)
		pw.CloseWithError(err)
		done <- err
	}()
	cerr := consume(pr)
	pr.CloseWithError(errors.New("archive reader stopped"))
	cancel()
	werr := <-done
	if werr != nil && !errors.Is(werr, context.Canceled) {
		return werr
	}
	return cerr
}

// Pull copies the complete remote backup name into the backup folder
// opts.Folder with [backup.Import]: it is unpacked in a temporary
// directory of the folder and verified completely (opts.Keys unlocks an
// encrypted backup's content) before it is renamed into place, so a
// damaged or altered remote backup never appears in the folder.
func (r *Remote) Pull(ctx context.Context, name string, opts backup.ImportOptions) (*backup.ImportResult, error) {
	var res *backup.ImportResult
	err := r.stream(ctx, name, opts.Progress, func(rd io.Reader) error {
		var err error
		res, err = backup.Import(ctx, rd, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	return res, nil
}

// Unpack downloads the complete remote backup name into a new temporary
// directory under parent whose name starts with prefix, and verifies it
// as [backup.Unpack] does an archive. The caller removes it with
// [backup.Unpacked.Remove]; on error nothing is left.
func (r *Remote) Unpack(ctx context.Context, name, parent, prefix string, opts backup.UnpackOptions) (*backup.Unpacked, error) {
	var u *backup.Unpacked
	err := r.stream(ctx, name, opts.Progress, func(rd io.Reader) error {
		var err error
		u, err = backup.Unpack(ctx, rd, parent, prefix, opts)
		return err
	})
	if err != nil {
		if u != nil {
			u.Remove()
		}
		return nil, fmt.Errorf("download %s: %w", name, err)
	}
	return u, nil
}
