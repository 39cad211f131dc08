package offsite

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
)

// Problem is one object of a remote backup that does not verify.
type Problem struct {
	Path string // the file of the backup
	Key  string // its object
	Err  error  // matches backup.ErrMissingFile or backup.ErrChecksumMismatch
}

// VerifyResult is what [Remote.Verify] found.
type VerifyResult struct {
	Manifest *format.Manifest
	// Files and Bytes count what was read.
	Files, Bytes int64
	// Problems lists every object missing or altered; empty when the
	// backup verifies.
	Problems []Problem
}

// Err returns nil when the backup verified, else an error naming the
// first problem and how many there are, matching [backup.ErrVerify].
func (v *VerifyResult) Err() error {
	if len(v.Problems) == 0 {
		return nil
	}
	p := v.Problems[0]
	more := ""
	if n := len(v.Problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more)", n)
	}
	return &backup.FileError{Op: "verify", Path: p.Path, Err: fmt.Errorf("%w%s", p.Err, more),
		Hint: "bitnobi backups push --repair NAME, on a machine that holds the backup; or pull another one"}
}

// Verify checks the complete remote backup name without writing anything
// to disk: its manifest's checksum, then every object the manifest names
// (downloaded and hashed: its size and SHA-256 must be the manifest's).
// It reads every object even after a problem, to list them all. The
// error is for the storage and the manifest; problems with the objects
// are in the result (see [VerifyResult.Err]).
func (r *Remote) Verify(ctx context.Context, name string, progress func(backup.Progress)) (*VerifyResult, error) {
	m, _, err := r.Manifest(ctx, name)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{Manifest: m}
	prog := backup.Progress{Phase: "verify", ItemsTotal: int64(len(m.Files))}
	for _, f := range m.Files {
		prog.BytesTotal += f.Size
	}
	for _, f := range m.Files {
		key := r.dataKey(f.SHA256)
		sum, n, err := r.hashObjectProgress(ctx, key, func(n int64) {
			prog.Bytes += n
			if progress != nil {
				progress(prog)
			}
		})
		switch {
		case errors.Is(err, ErrNotFound):
			res.Problems = append(res.Problems, Problem{f.Path, key, fmt.Errorf("%w: object %s is not in the bucket", backup.ErrMissingFile, key)})
		case err != nil:
			return res, err
		case n != f.Size:
			res.Problems = append(res.Problems, Problem{f.Path, key, fmt.Errorf("%w: object %s holds %d bytes, the manifest says %d", backup.ErrChecksumMismatch, key, n, f.Size)})
		case sum != f.SHA256:
			res.Problems = append(res.Problems, Problem{f.Path, key, fmt.Errorf("%w: object %s was altered: its SHA-256 is not the manifest's", backup.ErrChecksumMismatch, key)})
		}
		res.Files++
		res.Bytes += n
		prog.Items++
	}
	if progress != nil {
		progress(prog)
	}
	return res, nil
}

// hashObjectProgress is hashObject with progress.
func (r *Remote) hashObjectProgress(ctx context.Context, key string, fn func(int64)) (string, int64, error) {
	obj, err := r.client.GetObject(ctx, r.t.Bucket, key, r.getOpts())
	if err != nil {
		return "", 0, r.classify("download "+key, err)
	}
	defer obj.Close()
	h := newHashReader(&progressReader{r: obj, fn: fn})
	if _, err := io.Copy(io.Discard, h); err != nil {
		if isNotFound(err) {
			return "", 0, fmt.Errorf("download %s: %w", key, ErrNotFound)
		}
		return "", 0, r.classify("download "+key, err)
	}
	return h.sum(), h.n, nil
}
