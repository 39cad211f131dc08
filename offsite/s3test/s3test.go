// Package s3test gives tests a real S3 server: the one that
// scripts/with-s3.sh starts (versitygw), or one of their own that they may
// stop, to test what a vanished server does.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/offsite"
)

// Environment variables that scripts/with-s3.sh exports.
const (
	EnvEndpoint  = "BITNOBI_TEST_S3_ENDPOINT"
	EnvBucket    = "BITNOBI_TEST_S3_BUCKET"
	EnvAccessKey = "BITNOBI_TEST_S3_ACCESS_KEY_ID"
	EnvSecretKey = "BITNOBI_TEST_S3_SECRET_ACCESS_KEY"
	EnvDir       = "BITNOBI_TEST_S3_DIR" // the folder the server serves
	EnvBin       = "BITNOBI_TEST_S3_BIN" // the versitygw binary
	EnvRequired  = "BITNOBI_TEST_S3_REQUIRED"
)

// Server is a running S3 server with one bucket.
type Server struct {
	Target offsite.Target // its bucket, with a prefix of the test's own
	// Dir is the folder the server serves: the bucket's objects are the
	// files Dir/BUCKET/KEY.
	Dir string
	cmd *exec.Cmd
	bin string
	log string
}

// ObjectPath returns the file that holds the object key of the bucket.
func (s *Server) ObjectPath(key string) string {
	return filepath.Join(s.Dir, s.Target.Bucket, filepath.FromSlash(key))
}

// Key returns the key of name under the target's prefix.
func (s *Server) Key(name string) string {
	return strings.Trim(s.Target.Prefix, "/") + "/" + name
}

// skip skips the test, or fails it when the S3 tests are required.
func skip(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(EnvRequired) != "" {
		tb.Fatalf("%s, but %s is set: run the tests through scripts/with-s3.sh", why, EnvRequired)
	}
	tb.Skipf("%s: run through scripts/with-s3.sh to test against a real S3 server", why)
}

// Shared returns the server scripts/with-s3.sh started, with a prefix
// unique to this test (so that tests sharing it never see each other's
// backups). Without it the test is skipped, or fails when the S3 tests are
// required.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	endpoint := os.Getenv(EnvEndpoint)
	if endpoint == "" {
		skip(tb, EnvEndpoint+" is not set")
	}
	return &Server{
		Target: offsite.Target{
			Endpoint:        endpoint,
			Bucket:          os.Getenv(EnvBucket),
			Prefix:          "t/" + tb.Name() + "-" + randomHex(4),
			AccessKeyID:     os.Getenv(EnvAccessKey),
			SecretAccessKey: os.Getenv(EnvSecretKey),
		},
		Dir: os.Getenv(EnvDir),
	}
}

// Start starts a server of the test's own, on a free port over a
// temporary folder holding the bucket "own", stopped at the end of the
// test (or earlier with [Server.Stop]).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		skip(tb, EnvBin+" is not set")
	}
	dir := tb.TempDir()
	const bucket = "own"
	if err := os.Mkdir(filepath.Join(dir, bucket), 0o700); err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{
		Target: offsite.Target{Endpoint: "http://" + addr, Bucket: bucket, Prefix: "p",
			AccessKeyID: "own" + randomHex(4), SecretAccessKey: randomHex(16)},
		Dir: dir,
		bin: bin,
		log: filepath.Join(tb.TempDir(), "versitygw.log"),
	}
	tb.Cleanup(s.Stop)
	s.Restart(tb)
	return s
}

// Restart starts again a server that [Start] started and [Server.Stop]
// stopped, on the same address, folder and credentials.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	addr := strings.TrimPrefix(s.Target.Endpoint, "http://")
	cmd := exec.Command(s.bin, "--access", s.Target.AccessKeyID, "--secret", s.Target.SecretAccessKey, "--port", addr, "posix", s.Dir)
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.log)
			tb.Fatalf("versitygw did not listen on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops a server that [Start] started, at once (SIGKILL, as a crash
// or a lost network would), and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Open opens the server's target.
func (s *Server) Open(tb testing.TB) *offsite.Remote {
	tb.Helper()
	r, err := offsite.Open(context.Background(), s.Target)
	if err != nil {
		tb.Fatalf("open %s: %v", s.Target.Endpoint, err)
	}
	return r
}

// Env returns the environment variables "bitnobi" reads for s's target,
// as NAME=VALUE, the secret key in BITNOBI_S3_SECRET_ACCESS_KEY.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"BITNOBI_S3_ENDPOINT":          s.Target.Endpoint,
		"BITNOBI_S3_BUCKET":            s.Target.Bucket,
		"BITNOBI_S3_PREFIX":            s.Target.Prefix,
		"BITNOBI_S3_ACCESS_KEY_ID":     s.Target.AccessKeyID,
		"BITNOBI_S3_SECRET_ACCESS_KEY": s.Target.SecretAccessKey,
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// String describes the server.
func (s *Server) String() string {
	return fmt.Sprintf("S3 %s bucket %s", s.Target.Endpoint, s.Target.Bucket)
}
