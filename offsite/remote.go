package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// Names of the objects of one backup, under P/backups/<name>/.
const (
	manifestObject = format.ManifestName     // written last: the backup is complete
	pendingObject  = "pending-manifest.json" // a push under way or interrupted
)

// maxManifest bounds how much of a remote manifest is read, as
// format.ParseManifest's readers bound a local one.
const maxManifest = 256 << 20

// Remote is an open [Target]. Its methods may be called concurrently.
type Remote struct {
	// Concurrency is how many objects are transferred at a time (default 4).
	Concurrency int
	// Now is the clock (default time.Now).
	Now func() time.Time

	t      Target
	client *minio.Client
	sse    encrypt.ServerSide // nil: none

	mu      sync.Mutex
	uploads int // objects uploaded by this Remote, see Uploads
}

// Open connects to t and checks that the bucket exists and that the
// credentials are accepted, so that a wrong secret key, a missing bucket
// or an unreachable endpoint are reported at once, each with its own
// error ([ErrAccessDenied], [ErrNoBucket], [ErrUnreachable], wrapped with
// a hint).
func Open(ctx context.Context, t Target) (*Remote, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	host, secure, _ := t.endpoint()
	var sse encrypt.ServerSide
	switch t.SSE.Mode {
	case SSES3:
		sse = encrypt.NewSSE()
	case SSEKMS:
		s, err := encrypt.NewSSEKMS(t.SSE.KMSKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: SSE-KMS: %v", ErrConfig, err)
		}
		sse = s
	case SSEC:
		s, err := encrypt.NewSSEC(t.SSE.CustomerKey)
		if err != nil {
			return nil, fmt.Errorf("%w: SSE-C: %v", ErrConfig, err)
		}
		sse = s
	}
	client, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(t.AccessKeyID, t.SecretAccessKey, ""),
		Secure: secure,
		Region: t.Region,
		// Path-style requests (host/bucket/key) work with every
		// S3-compatible server; the client still uses virtual hosts for
		// Amazon's own endpoints.
		BucketLookup: minio.BucketLookupAuto,
		// Lets uploads carry x-amz-checksum-sha256, which the server
		// checks and stores (see push.go).
		TrailingHeaders: true,
		// A few retries ride out a hiccup; more would make an operator
		// wait minutes to learn that the endpoint is wrong.
		MaxRetries: 3,
		Transport:  http.DefaultTransport,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	r := &Remote{Concurrency: 4, Now: time.Now, t: t, client: client, sse: sse}
	// A GET (listing one key), not a HEAD: the error of a HEAD has no
	// body, so a wrong secret key and a key without rights would look
	// alike. The listing tells an unreachable endpoint, refused
	// credentials and a missing bucket apart on every server.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing after its first key
	if obj, ok := <-client.ListObjects(lctx, t.Bucket, minio.ListObjectsOptions{Prefix: t.prefix(), MaxKeys: 1}); ok && obj.Err != nil {
		return nil, r.classify("open bucket "+t.Bucket, obj.Err)
	}
	return r, nil
}

// Target returns the target r was opened on.
func (r *Remote) Target() Target { return r.t }

// Uploads returns how many objects r has uploaded since it was opened.
func (r *Remote) Uploads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploads
}

func (r *Remote) dataKey(sum string) string { return r.t.prefix() + "data/" + sum[:2] + "/" + sum }
func (r *Remote) dataPrefix() string        { return r.t.prefix() + "data/" }
func (r *Remote) backupsPrefix() string     { return r.t.prefix() + "backups/" }
func (r *Remote) backupKey(name, object string) string {
	return r.backupsPrefix() + name + "/" + object
}

// getOpts returns the options of a download: the SSE-C key, if any, must
// come with every read.
func (r *Remote) getOpts() minio.GetObjectOptions {
	var o minio.GetObjectOptions
	if r.t.SSE.Mode == SSEC {
		o.ServerSideEncryption = r.sse
	}
	return o
}

// isNotFound reports whether err says an object does not exist.
func isNotFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}

// readSmall downloads the object key whole, refusing more than limit
// bytes. A missing object gives an error matching [ErrNotFound].
func (r *Remote) readSmall(ctx context.Context, key string, limit int64) ([]byte, error) {
	obj, err := r.client.GetObject(ctx, r.t.Bucket, key, r.getOpts())
	if err != nil {
		return nil, r.classify("download "+key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if isNotFound(err) {
		return nil, fmt.Errorf("download %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, r.classify("download "+key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("download %s: %w: larger than %d bytes", key, backup.ErrMalformed, limit)
	}
	return data, nil
}

// Manifest downloads and checks the manifest of the complete remote
// backup name (the public manifest of an encrypted backup), and returns
// it with its bytes. A missing one gives an error matching
// [ErrNotFound]; a damaged one, [backup.ErrVerify].
func (r *Remote) Manifest(ctx context.Context, name string) (*format.Manifest, []byte, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	data, err := r.readSmall(ctx, r.backupKey(name, manifestObject), maxManifest)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, &backup.HintError{
			Err:  fmt.Errorf("%w: %s", ErrNotFound, r.t.URL(name)),
			Hint: "bitnobi backups list --remote",
		}
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := format.ParseManifest(data)
	if err != nil {
		return nil, nil, fmt.Errorf("remote backup %s: %w", r.t.URL(name), err)
	}
	return m, data, nil
}

// Entry is one backup of the remote prefix, as [Remote.List] finds it.
type Entry struct {
	Name string
	// URL is the backup's address for restore, s3://BUCKET/PREFIX/NAME.
	URL string
	// Complete is set for a backup whose manifest.json is present; not,
	// for a push under way or interrupted (only pending-manifest.json).
	Complete bool
	// Manifest is the complete backup's manifest (public, for an
	// encrypted one), nil if incomplete or damaged.
	Manifest *format.Manifest
	// Files and Size count the backup's files, manifest.json included.
	Files int64
	Size  int64
	// Unique is the bytes of the objects no other complete backup of the
	// prefix uses: about what removing this one frees.
	Unique int64
	// Modified is when its newest object (the manifest) was written.
	Modified time.Time
	// Err says why a backup whose manifest.json is present is not
	// usable (damaged, newer format...).
	Err error
}

// List returns the backups under the prefix, complete and incomplete,
// newest first (by manifest time, else by name).
func (r *Remote) List(ctx context.Context) ([]Entry, error) {
	byName := map[string]*Entry{}
	for obj := range r.client.ListObjects(ctx, r.t.Bucket, minio.ListObjectsOptions{Prefix: r.backupsPrefix(), Recursive: true}) {
		if obj.Err != nil {
			return nil, r.classify("list "+r.backupsPrefix(), obj.Err)
		}
		name, object, ok := strings.Cut(strings.TrimPrefix(obj.Key, r.backupsPrefix()), "/")
		if !ok || checkName(name) != nil {
			continue
		}
		e := byName[name]
		if e == nil {
			e = &Entry{Name: name, URL: r.t.URL(name)}
			byName[name] = e
		}
		if object == manifestObject {
			e.Complete = true
			e.Modified = obj.LastModified
		}
	}
	refs := map[string]int{}
	sizes := map[string]int64{}
	var entries []Entry
	for _, e := range byName {
		if e.Complete {
			m, data, err := r.Manifest(ctx, e.Name)
			if err != nil && !errors.Is(err, backup.ErrVerify) && !errors.Is(err, backup.ErrNewerVersion) {
				return nil, err
			}
			e.Manifest, e.Err = m, err
			if m != nil {
				e.Files, e.Size = int64(len(m.Files))+1, int64(len(data))
				for _, sum := range distinct(m) {
					refs[sum]++
				}
				for _, f := range m.Files {
					e.Size += f.Size
					sizes[f.SHA256] = f.Size
				}
			}
		}
		entries = append(entries, *e)
	}
	for i := range entries {
		if m := entries[i].Manifest; m != nil {
			for _, sum := range distinct(m) {
				if refs[sum] == 1 {
					entries[i].Unique += sizes[sum]
				}
			}
		}
	}
	slices.SortFunc(entries, func(a, b Entry) int {
		var ta, tb time.Time
		if a.Manifest != nil {
			ta = a.Manifest.CreatedAt
		}
		if b.Manifest != nil {
			tb = b.Manifest.CreatedAt
		}
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return entries, nil
}

// distinct returns the distinct SHA-256 sums of m's files, sorted.
func distinct(m *format.Manifest) []string {
	sums := make([]string, 0, len(m.Files))
	for _, f := range m.Files {
		sums = append(sums, f.SHA256)
	}
	slices.Sort(sums)
	return slices.Compact(sums)
}

// b64 turns a hex SHA-256 into the base64 form of x-amz-checksum-sha256.
func b64(hexSum string) string {
	raw, _ := hex.DecodeString(hexSum)
	return base64.StdEncoding.EncodeToString(raw)
}

// hashReader hashes what it reads.
type hashReader struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, h: sha256.New()} }

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }

var hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checksumOf returns the lowercase hex SHA-256 of data.
func checksumOf(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
