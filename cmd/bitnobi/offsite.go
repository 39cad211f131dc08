package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/offsite"
)

// Environment variables that configure the off-site target (S3) of push,
// pull, list/verify/prune --remote and restore s3://. Secrets come from a
// file or the environment, never from a flag (visible to every user in
// ps).
const (
	EnvS3Endpoint      = "BITNOBI_S3_ENDPOINT"               // host:port, or http(s)://host:port
	EnvS3Bucket        = "BITNOBI_S3_BUCKET"                 // an existing bucket
	EnvS3Prefix        = "BITNOBI_S3_PREFIX"                 // where in the bucket, e.g. bitnobi/prod
	EnvS3Region        = "BITNOBI_S3_REGION"                 // optional
	EnvS3AccessKeyID   = "BITNOBI_S3_ACCESS_KEY_ID"          // the access key
	EnvS3SecretFile    = "BITNOBI_S3_SECRET_ACCESS_KEY_FILE" // file whose first line is the secret key
	EnvS3Secret        = "BITNOBI_S3_SECRET_ACCESS_KEY"      // the secret key itself (if no file)
	EnvS3TLS           = "BITNOBI_S3_TLS"                    // "off" for plain HTTP (default on)
	EnvS3SSE           = "BITNOBI_S3_SSE"                    // server-side encryption: s3, kms or c
	EnvS3SSEKMSKeyID   = "BITNOBI_S3_SSE_KMS_KEY_ID"         // key of --sse kms
	EnvS3SSECKeyFile   = "BITNOBI_S3_SSE_C_KEY_FILE"         // 32-byte key (raw or base64) of sse c
	ExitRemote         = 5                                   // exit code: the off-site storage could not be used
	s3ConfigHint       = "set " + EnvS3Endpoint + ", " + EnvS3Bucket + ", " + EnvS3AccessKeyID + " and " + EnvS3SecretFile + " (see bitnobi backups push --help)"
	maxSecretFileBytes = 64 << 10
)

// s3Target returns the off-site target the environment describes. bucket
// and prefix, when bucket is not "", replace BITNOBI_S3_BUCKET and
// BITNOBI_S3_PREFIX (restore s3://BUCKET/PREFIX/NAME names them).
func (m *Main) s3Target(bucket, prefix string) (offsite.Target, error) {
	t := offsite.Target{
		Endpoint:    m.Getenv(EnvS3Endpoint),
		Bucket:      m.Getenv(EnvS3Bucket),
		Prefix:      m.Getenv(EnvS3Prefix),
		Region:      m.Getenv(EnvS3Region),
		AccessKeyID: m.Getenv(EnvS3AccessKeyID),
	}
	if bucket != "" {
		t.Bucket, t.Prefix = bucket, prefix
	}
	switch strings.ToLower(m.Getenv(EnvS3TLS)) {
	case "", "on", "true", "1", "yes":
	case "off", "false", "0", "no":
		t.DisableTLS = true
	default:
		return t, usagef(EnvS3TLS+"=on or "+EnvS3TLS+"=off", "%s=%q: give on or off", EnvS3TLS, m.Getenv(EnvS3TLS))
	}
	switch {
	case t.Endpoint == "":
		return t, usagef(s3ConfigHint, "no off-site target: %s is not set", EnvS3Endpoint)
	case t.Bucket == "":
		return t, usagef(s3ConfigHint, "no off-site bucket: %s is not set", EnvS3Bucket)
	case t.AccessKeyID == "":
		return t, usagef(s3ConfigHint, "no access key: %s is not set", EnvS3AccessKeyID)
	}
	if f := m.Getenv(EnvS3SecretFile); f != "" {
		s, err := readSecretFile(f)
		if err != nil {
			return t, &UsageError{Err: fmt.Errorf("%s: %w", EnvS3SecretFile, err), Hint: "write the secret key on the first line of " + f + ", mode 0600"}
		}
		t.SecretAccessKey = s
	} else if s := m.Getenv(EnvS3Secret); s != "" {
		t.SecretAccessKey = s
	} else {
		return t, usagef(s3ConfigHint, "no secret key: neither %s nor %s is set", EnvS3SecretFile, EnvS3Secret)
	}
	t.SSE.Mode = strings.ToLower(m.Getenv(EnvS3SSE))
	t.SSE.KMSKeyID = m.Getenv(EnvS3SSEKMSKeyID)
	if t.SSE.Mode == offsite.SSEC {
		f := m.Getenv(EnvS3SSECKeyFile)
		if f == "" {
			return t, usagef(EnvS3SSECKeyFile+"=FILE (32 random bytes, e.g. head -c32 /dev/urandom | base64)", "%s=c needs %s", EnvS3SSE, EnvS3SSECKeyFile)
		}
		key, err := readSSECKey(f)
		if err != nil {
			return t, &UsageError{Err: fmt.Errorf("%s: %w", EnvS3SSECKeyFile, err), Hint: "head -c32 /dev/urandom | base64 > " + f + "; chmod 600 " + f}
		}
		t.SSE.CustomerKey = key
	}
	if err := t.Validate(); err != nil {
		return t, usagef(s3ConfigHint, "%v", err)
	}
	return t, nil
}

// readSecretFile returns the first line of the file path, which only its
// owner may read.
func readSecretFile(path string) (string, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	s := strings.TrimSpace(string(line))
	if s == "" {
		return "", fmt.Errorf("%s: the first line is empty", path)
	}
	return s, nil
}

// readSSECKey reads a 32-byte key, raw or base64, from path.
func readSSECKey(path string) ([]byte, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) == 32 {
		return data, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%s holds neither 32 bytes nor their base64", path)
	}
	return key, nil
}

// readPrivateFile reads a small file that other users may not access.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: other users may read it; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	data := make([]byte, maxSecretFileBytes+1)
	n, err := f.Read(data)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n > maxSecretFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFileBytes)
	}
	return data[:n], nil
}

// openRemote opens the off-site target of the environment (bucket and
// prefix as for [Main.s3Target]).
func (m *Main) openRemote(ctx context.Context, bucket, prefix string) (*offsite.Remote, error) {
	t, err := m.s3Target(bucket, prefix)
	if err != nil {
		return nil, err
	}
	r, err := offsite.Open(ctx, t)
	if interrupted(ctx, err) {
		return nil, interruptedf("interrupted before the off-site storage answered: nothing was changed")
	}
	if err != nil {
		return nil, remoteError(err)
	}
	return r, nil
}

// remoteError gives the storage's errors (unreachable, credentials
// refused, no bucket) exit code [ExitRemote] with their hints, a remote
// backup that is not there or is another backup exit code 2, and
// everything else what [backupError] gives it.
func remoteError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	hint := backup.Hint(err)
	switch {
	case errors.Is(err, offsite.ErrUnreachable), errors.Is(err, offsite.ErrAccessDenied), errors.Is(err, offsite.ErrNoBucket):
		return &ExitError{Code: ExitRemote, Err: err, Hint: hint}
	case errors.Is(err, offsite.ErrNotFound), errors.Is(err, offsite.ErrConflict), errors.Is(err, offsite.ErrConfig):
		if hint == "" {
			hint = "bitnobi backups list --remote"
		}
		return &UsageError{Err: err, Hint: hint}
	}
	return backupError(err)
}
