package offsite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/minio/minio-go/v7"
)

// Errors about the storage. Each is wrapped in a [*backup.HintError]
// whose hint tells the operator what to do.
var (
	// ErrUnreachable means the endpoint did not answer: wrong host or
	// port, the server is down, a network problem, or TLS set wrongly.
	ErrUnreachable = errors.New("off-site storage unreachable")
	// ErrAccessDenied means the server refused the credentials (an
	// unknown access key, a wrong secret key) or the access key may not
	// use the bucket.
	ErrAccessDenied = errors.New("off-site storage refused the credentials")
	// ErrNoBucket means the bucket does not exist.
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrNotFound means the prefix holds no complete backup of that
	// name.
	ErrNotFound = errors.New("no such backup in the off-site storage")
	// ErrConflict means the prefix holds a different backup under the
	// name being pushed. Nothing is ever replaced.
	ErrConflict = errors.New("the off-site storage holds a different backup of that name")
)

// nameRE is what a backup's name may be remotely: a directory name of the
// backup folder, never a temporary one.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) || backup.IsTemp(name) {
		return fmt.Errorf("%w: %q is not a backup name (letters, digits, '.', '_', '-')", ErrConfig, name)
	}
	return nil
}

// classify turns an error of the S3 client into one matching the
// sentinels above when it is one of the problems they name, with a hint.
// what says what was being done, e.g. "upload data/ab/ab12...".
func (r *Remote) classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "XAdminUserNotFound": // the latter: versitygw
		return &backup.HintError{
			Err:  fmt.Errorf("%s: %w: the server knows no access key %q (%s)", what, ErrAccessDenied, r.t.AccessKeyID, resp.Code),
			Hint: "check BITNOBI_S3_ACCESS_KEY_ID",
		}
	case "SignatureDoesNotMatch":
		return &backup.HintError{
			Err:  fmt.Errorf("%s: %w: wrong secret key for access key %q (%s)", what, ErrAccessDenied, r.t.AccessKeyID, resp.Code),
			Hint: "check the secret key in BITNOBI_S3_SECRET_ACCESS_KEY_FILE or BITNOBI_S3_SECRET_ACCESS_KEY",
		}
	case "AccessDenied", "AllAccessDisabled", "InvalidToken", "ExpiredToken":
		return &backup.HintError{
			Err:  fmt.Errorf("%s: %w: access key %q may not use bucket %q (%s)", what, ErrAccessDenied, r.t.AccessKeyID, r.t.Bucket, resp.Code),
			Hint: "give the access key read, write, list and delete rights on the bucket",
		}
	case "NoSuchBucket":
		return &backup.HintError{
			Err:  fmt.Errorf("%s: %w: %q at %s", what, ErrNoBucket, r.t.Bucket, r.t.Endpoint),
			Hint: "create the bucket, or correct BITNOBI_S3_BUCKET",
		}
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe) {
		return &backup.HintError{
			Err:  fmt.Errorf("%s: %w: %s: %v", what, ErrUnreachable, r.t.Endpoint, err),
			Hint: "check BITNOBI_S3_ENDPOINT (host:port, or http:// for a server without TLS) and that the server runs",
		}
	}
	return fmt.Errorf("%s: %w [%s %d]", what, err, resp.Code, resp.StatusCode)
}
