package offsite

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// SSE modes for [SSE.Mode].
const (
	SSENone = ""    // no server-side encryption requested
	SSES3   = "s3"  // SSE-S3: the server encrypts with keys it manages (AES256)
	SSEKMS  = "kms" // SSE-KMS: the server encrypts with KMSKeyID
	SSEC    = "c"   // SSE-C: the server encrypts with CustomerKey, which every request sends
)

// SSE asks the server to encrypt the objects it stores. It adds to, and
// never replaces, a backup's own encryption ("bitnobi backup --encrypt"),
// which the server cannot undo.
type SSE struct {
	// Mode is SSENone, SSES3, SSEKMS or SSEC.
	Mode string
	// KMSKeyID is the key of SSEKMS ("" lets the server use its default).
	KMSKeyID string
	// CustomerKey is the 32-byte key of SSEC. Losing it loses the
	// objects: keep it with the backup identity, not beside the bucket.
	CustomerKey []byte
}

// Target is an S3-compatible bucket, or a prefix in one, that holds the
// off-site copies of one installation's backups.
type Target struct {
	// Endpoint is the server's host and port ("s3.eu-west-1.amazonaws.com",
	// "minio.internal:9000"), or a URL "https://host:port" or
	// "http://host:port" (the scheme then sets DisableTLS).
	Endpoint string
	// Bucket is the bucket's name. It must exist: Bitnobi never creates
	// buckets, whose policies and lifecycle the operator owns.
	Bucket string
	// Prefix is where in the bucket the backups go, such as
	// "bitnobi/prod"; "" for the bucket's root. Slashes at either end
	// are ignored.
	Prefix string
	// Region is the bucket's region; "" lets the client find it
	// (us-east-1 for servers that have none).
	Region string
	// AccessKeyID and SecretAccessKey are the credentials (AWS
	// signature version 4).
	AccessKeyID     string
	SecretAccessKey string
	// DisableTLS talks plain HTTP: only for a server on the same machine
	// or a trusted network.
	DisableTLS bool
	// SSE asks for server-side encryption of every object written.
	SSE SSE
}

// ErrConfig means a [Target] is incomplete or invalid; the message names
// the field.
var ErrConfig = errors.New("off-site target misconfigured")

// Validate checks that t names a server, a bucket and credentials, and
// that its encryption settings are complete. Errors match [ErrConfig].
func (t Target) Validate() error {
	if _, _, err := t.endpoint(); err != nil {
		return err
	}
	switch {
	case t.Bucket == "":
		return fmt.Errorf("%w: no bucket given", ErrConfig)
	case strings.ContainsAny(t.Bucket, "/ "):
		return fmt.Errorf("%w: bucket %q: a bucket name has no slashes or spaces", ErrConfig, t.Bucket)
	case t.AccessKeyID == "":
		return fmt.Errorf("%w: no access key ID given", ErrConfig)
	case t.SecretAccessKey == "":
		return fmt.Errorf("%w: no secret access key given", ErrConfig)
	}
	switch t.SSE.Mode {
	case SSENone, SSES3, SSEKMS:
	case SSEC:
		if len(t.SSE.CustomerKey) != 32 {
			return fmt.Errorf("%w: the SSE-C customer key must be 32 bytes, not %d", ErrConfig, len(t.SSE.CustomerKey))
		}
	default:
		return fmt.Errorf("%w: server-side encryption %q: use s3, kms or c", ErrConfig, t.SSE.Mode)
	}
	return nil
}

// endpoint returns the host:port and whether to use TLS.
func (t Target) endpoint() (host string, secure bool, err error) {
	e := strings.TrimSpace(t.Endpoint)
	if e == "" {
		return "", false, fmt.Errorf("%w: no endpoint given", ErrConfig)
	}
	secure = !t.DisableTLS
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil {
			return "", false, fmt.Errorf("%w: endpoint %q: %v", ErrConfig, e, err)
		}
		switch u.Scheme {
		case "https":
			secure = true
		case "http":
			secure = false
		default:
			return "", false, fmt.Errorf("%w: endpoint %q: scheme must be http or https", ErrConfig, e)
		}
		if u.Path != "" && u.Path != "/" {
			return "", false, fmt.Errorf("%w: endpoint %q: give the bucket and prefix separately, not in the endpoint's path", ErrConfig, e)
		}
		e = u.Host
	}
	if e == "" || strings.ContainsAny(e, "/ ") {
		return "", false, fmt.Errorf("%w: endpoint %q is not host:port", ErrConfig, t.Endpoint)
	}
	return e, secure, nil
}

// prefix returns the key prefix, "" or ending in "/".
func (t Target) prefix() string {
	p := strings.Trim(t.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// URL returns the backup's address as restore takes it,
// s3://BUCKET/PREFIX/NAME.
func (t Target) URL(name string) string {
	return "s3://" + t.Bucket + "/" + t.prefix() + name
}

// ParseURL splits an address s3://BUCKET/PREFIX/NAME into the bucket, the
// prefix ("" when the backup is at the bucket's root) and the backup's
// name. Errors match [ErrConfig].
func ParseURL(s string) (bucket, prefix, name string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", "", fmt.Errorf("%w: %q does not start with s3://", ErrConfig, s)
	}
	rest = strings.TrimSuffix(rest, "/")
	bucket, path, _ := strings.Cut(rest, "/")
	if bucket == "" || path == "" {
		return "", "", "", fmt.Errorf("%w: %q: give s3://BUCKET/PREFIX/backup-YYYYMMDD_HHMM", ErrConfig, s)
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		prefix, name = path[:i], path[i+1:]
	} else {
		name = path
	}
	if err := checkName(name); err != nil {
		return "", "", "", err
	}
	return bucket, prefix, name, nil
}

// IsURL reports whether s is an s3:// address.
func IsURL(s string) bool { return strings.HasPrefix(s, "s3://") }
