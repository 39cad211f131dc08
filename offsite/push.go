package offsite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
)

// maxSinglePut is the largest object sent in one PUT (Amazon S3's
// limit); larger files go in parts.
const maxSinglePut = 5 << 30

// PushOptions configures [Remote.Push].
type PushOptions struct {
	// Name is the backup's name remotely (default: the directory's name).
	Name string
	// Progress, if set, is called as files are uploaded (Phase "upload").
	// Calls never overlap.
	Progress func(backup.Progress)
	// Repair downloads and hashes every object the backup needs that is
	// in the bucket already, and uploads again each one that is altered
	// or missing, even when the remote backup is complete: what
	// [Remote.Verify] found wrong, a push with Repair mends.
	Repair bool
}

// PushResult describes what [Remote.Push] did.
type PushResult struct {
	Name string
	URL  string
	// Manifest is the local backup's manifest (public, if encrypted).
	Manifest *format.Manifest
	// UpToDate is set when the remote backup was complete already with
	// the same manifest: nothing was sent.
	UpToDate bool
	// Files and Bytes count the backup's distinct file contents.
	Files, Bytes int64
	// Uploaded and UploadedBytes count the objects sent (manifests not
	// included); the others were in the bucket already.
	Uploaded, UploadedBytes int64
	// Repaired counts the objects that were in the bucket but altered,
	// and were sent again (with [PushOptions.Repair]).
	Repaired int64
}

// Push copies the backup in dir to the remote prefix, as package doc
// describes: only the files the bucket does not hold yet, each checked
// after upload, and manifest.json last. It refuses a remote backup of
// the same name with another manifest ([ErrConflict]). Pushing a backup
// that is complete remotely already does nothing; pushing one whose
// earlier push was interrupted finishes it.
//
// The local files are not verified first; each upload is checked against
// the manifest's SHA-256 instead, so a damaged local file is refused
// (matching [backup.ErrChecksumMismatch]) and never stored as good.
func (r *Remote) Push(ctx context.Context, dir string, opts PushOptions) (*PushResult, error) {
	m, err := format.ReadManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, format.ManifestName))
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if again, err := format.ParseManifest(data); err != nil || again.ManifestChecksum != m.ManifestChecksum {
		return nil, fmt.Errorf("push: %s changed while being read", filepath.Join(dir, format.ManifestName))
	}
	name := opts.Name
	if name == "" {
		name = filepath.Base(dir)
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	res := &PushResult{Name: name, URL: r.t.URL(name), Manifest: m}
	sizes := map[string]int64{}
	for _, f := range m.Files {
		if _, ok := sizes[f.SHA256]; !ok {
			sizes[f.SHA256] = f.Size
			res.Files++
			res.Bytes += f.Size
		}
	}

	// 1. A complete remote backup of that name?
	remote, _, err := r.Manifest(ctx, name)
	switch {
	case err == nil && remote.ManifestChecksum == m.ManifestChecksum && !opts.Repair:
		res.UpToDate = true
		return res, nil
	case err == nil && remote.ManifestChecksum == m.ManifestChecksum:
		// Repair: check and mend its objects below.
	case err == nil:
		return nil, &backup.HintError{
			Err:  fmt.Errorf("push %s: %w (taken %s, not %s)", name, ErrConflict, remote.CreatedAt.UTC().Format("2006-01-02 15:04:05"), m.CreatedAt.UTC().Format("2006-01-02 15:04:05")),
			Hint: "push it under another name: bitnobi backups push --as NAME " + name,
		}
	case errors.Is(err, ErrNotFound):
	case errors.Is(err, backup.ErrVerify):
		// A damaged manifest.json: treat it as absent and write a good one.
	default:
		return nil, fmt.Errorf("push: %w", err)
	}

	// 2. The pending manifest.
	if err := r.put(ctx, r.backupKey(name, pendingObject), bytes.NewReader(data), int64(len(data)), checksumOf(data)); err != nil {
		return nil, fmt.Errorf("push %s: %w", name, err)
	}

	// 3. The files the bucket lacks.
	have, err := r.listData(ctx)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", name, err)
	}
	type job struct{ sum, path string }
	var jobs []job
	var total int64
	queued := map[string]bool{}
	for _, f := range m.Files {
		if queued[f.SHA256] { // two files with the same content: one object
			continue
		}
		queued[f.SHA256] = true
		if size, ok := have[f.SHA256]; ok {
			if size == f.Size && !opts.Repair {
				continue
			}
			if size == f.Size {
				got, n, err := r.hashObject(ctx, r.dataKey(f.SHA256))
				if err != nil && !errors.Is(err, ErrNotFound) {
					return nil, fmt.Errorf("push %s: %w", name, err)
				}
				if err == nil && got == f.SHA256 && n == f.Size {
					continue
				}
			}
			res.Repaired++ // there, but altered (a wrong size is mended without Repair)
		}
		jobs = append(jobs, job{f.SHA256, f.Path})
		total += f.Size
	}
	var mu sync.Mutex
	prog := backup.Progress{Phase: "upload", ItemsTotal: int64(len(jobs)), BytesTotal: total}
	report := func(n int64, done bool) {
		if opts.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		prog.Bytes += n
		if done {
			prog.Items++
		}
		opts.Progress(prog)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.Concurrency, 1))
	for _, j := range jobs {
		g.Go(func() error {
			n, err := r.uploadFile(gctx, dir, j.path, j.sum, sizes[j.sum], func(n int64) { report(n, false) })
			if err != nil {
				return err
			}
			mu.Lock()
			res.Uploaded++
			res.UploadedBytes += n
			mu.Unlock()
			report(0, true)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return res, fmt.Errorf("push %s: %w", name, err)
	}

	// 4. The manifest, last; then the pending one goes.
	if err := r.put(ctx, r.backupKey(name, manifestObject), bytes.NewReader(data), int64(len(data)), checksumOf(data)); err != nil {
		return res, fmt.Errorf("push %s: %w", name, err)
	}
	if err := r.client.RemoveObject(ctx, r.t.Bucket, r.backupKey(name, pendingObject), minio.RemoveObjectOptions{}); err != nil {
		return res, fmt.Errorf("push %s: the backup is complete remotely, but: %w", name, r.classify("remove "+pendingObject, err))
	}
	return res, nil
}

// listData returns the size of every object under data/, by SHA-256.
func (r *Remote) listData(ctx context.Context) (map[string]int64, error) {
	have := map[string]int64{}
	for obj := range r.client.ListObjects(ctx, r.t.Bucket, minio.ListObjectsOptions{Prefix: r.dataPrefix(), Recursive: true}) {
		if obj.Err != nil {
			return nil, r.classify("list "+r.dataPrefix(), obj.Err)
		}
		sum := obj.Key[strings.LastIndexByte(obj.Key, '/')+1:]
		if hexRE.MatchString(sum) && obj.Key == r.dataKey(sum) {
			have[sum] = obj.Size
		}
	}
	return have, nil
}

// uploadFile uploads dir/path as the object of sum and checks it. It
// returns the bytes sent.
func (r *Remote) uploadFile(ctx context.Context, dir, path, sum string, size int64, progress func(int64)) (int64, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", path, err)
	}
	if fi.Size() != size {
		return 0, &backup.FileError{Op: "upload", Path: path,
			Err:  fmt.Errorf("%w: %d bytes, the manifest says %d", backup.ErrChecksumMismatch, fi.Size(), size),
			Hint: "the local backup is damaged: bitnobi backups verify " + filepath.Base(dir)}
	}
	key := r.dataKey(sum)
	err = r.put(ctx, key, &progressReader{r: f, fn: progress}, size, sum)
	var bad *mismatchError
	if errors.As(err, &bad) {
		// What arrived is not what the manifest says: the local file is
		// damaged (or changed while read). Never leave it under the name
		// of the right content.
		_ = r.client.RemoveObject(context.WithoutCancel(ctx), r.t.Bucket, key, minio.RemoveObjectOptions{})
		return 0, &backup.FileError{Op: "upload", Path: path, Err: err,
			Hint: "the local backup is damaged: bitnobi backups verify " + filepath.Base(dir)}
	}
	if err != nil {
		return 0, err
	}
	return size, nil
}

// mismatchError is an object that, once uploaded, is not what was meant.
type mismatchError struct{ key, what string }

func (e *mismatchError) Error() string {
	return fmt.Sprintf("object %s: %s", e.key, e.what)
}
func (e *mismatchError) Unwrap() error { return backup.ErrChecksumMismatch }

// put uploads size bytes from body as key, sending the SHA-256 sum
// (lowercase hex) for the server to check, then checks the stored
// object's size and SHA-256. A mismatch gives a [*mismatchError].
func (r *Remote) put(ctx context.Context, key string, body io.Reader, size int64, sum string) error {
	opts := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		ServerSideEncryption: r.sse,
		DisableMultipart:     size <= maxSinglePut,
	}
	if opts.DisableMultipart {
		// The SHA-256 the manifest records, as a header the server checks
		// against what it receives: not one the client computes from
		// what it reads, which would vouch for a damaged local file.
		opts.UserMetadata = map[string]string{"x-amz-checksum-sha256": b64(sum)}
	} else {
		opts.Checksum = minio.ChecksumSHA256
	}
	if _, err := r.client.PutObject(ctx, r.t.Bucket, key, body, size, opts); err != nil {
		if minio.ToErrorResponse(err).Code == "BadDigest" || minio.ToErrorResponse(err).Code == "XAmzContentChecksumMismatch" {
			return &mismatchError{key, "the bytes sent do not have the manifest's SHA-256 (" + minio.ToErrorResponse(err).Code + ")"}
		}
		return r.classify("upload "+key, err)
	}
	r.mu.Lock()
	r.uploads++
	r.mu.Unlock()
	return r.check(ctx, key, size, sum)
}

// check checks that the object key has the size and SHA-256 given: by the
// checksum the server stored, else by reading it back.
func (r *Remote) check(ctx context.Context, key string, size int64, sum string) error {
	so := minio.StatObjectOptions{Checksum: true}
	if r.t.SSE.Mode == SSEC {
		so.ServerSideEncryption = r.sse
	}
	info, err := r.client.StatObject(ctx, r.t.Bucket, key, so)
	if err != nil {
		return r.classify("check "+key, err)
	}
	if info.Size != size {
		return &mismatchError{key, fmt.Sprintf("after upload, %d bytes, not %d", info.Size, size)}
	}
	if info.ChecksumSHA256 != "" && !strings.Contains(info.ChecksumSHA256, "-") {
		if info.ChecksumSHA256 != b64(sum) {
			return &mismatchError{key, "after upload, its SHA-256 is not the manifest's"}
		}
		return nil
	}
	got, n, err := r.hashObject(ctx, key)
	if err != nil {
		return err
	}
	if n != size || got != sum {
		return &mismatchError{key, "read back after upload, its SHA-256 is not the manifest's"}
	}
	return nil
}

// hashObject downloads key and returns its SHA-256 and size.
func (r *Remote) hashObject(ctx context.Context, key string) (string, int64, error) {
	obj, err := r.client.GetObject(ctx, r.t.Bucket, key, r.getOpts())
	if err != nil {
		return "", 0, r.classify("download "+key, err)
	}
	defer obj.Close()
	h := newHashReader(obj)
	if _, err := io.Copy(io.Discard, h); err != nil {
		if isNotFound(err) {
			return "", 0, fmt.Errorf("download %s: %w", key, ErrNotFound)
		}
		return "", 0, r.classify("download "+key, err)
	}
	return h.sum(), h.n, nil
}

// progressReader reports the bytes read.
type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.fn(int64(n))
	}
	return n, err
}
