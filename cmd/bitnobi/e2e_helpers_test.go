package main

// Helpers for end-to-end tests: the real server (Main.runServe on a real
// listener), driven over real HTTP, with the real backup and restore
// commands run in-process.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// J is a decoded JSON object.
type J = map[string]any

// runMain runs one command in-process and returns its exit code, stdout
// and stderr.
func runMain(t testing.TB, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return runMainContext(t, context.Background(), env, args...)
}

// server is a running "bitnobi serve".
type server struct {
	URL  string
	stop func() error
}

// startServer runs "bitnobi serve" on dataDir and a free port, and stops
// it when the test ends (or earlier, by calling Stop).
func startServer(t testing.TB, dataDir string, env map[string]string) *server {
	t.Helper()
	var logs syncBuffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &logs, Stderr: &logs, Getenv: func(k string) string { return env[k] }}
	return startServerMain(t, m, &logs, dataDir, "--log-level", "warn")
}

// startServerMain is startServer with a Main of the caller's (its clock,
// its streams: logs is its Stderr) and more serve flags.
func startServerMain(t testing.TB, m *Main, logs *syncBuffer, dataDir string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	m.onListen = func(addr string) { addrc <- addr }
	if m.childEnv == nil {
		// Should the schedule start a command (a test server up at
		// 02:15 UTC), this test binary runs it as bitnobi.
		m.childEnv = []string{envRunMain + "=1"}
	}
	errc := make(chan error, 1)
	go func() {
		errc <- m.Run(ctx, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--gc-interval", "0"}, args...))
	}()
	s := &server{}
	select {
	case addr := <-addrc:
		s.URL = "http://" + addr
	case err := <-errc:
		cancel()
		t.Fatalf("serve exited at start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start in 30s\n%s", logs.String())
	}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(30 * time.Second):
				stopErr = fmt.Errorf("serve did not stop in 30s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// Stop stops the server and fails the test if it did not stop cleanly.
func (s *server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stop server: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// client talks to a server as one user.
type client struct {
	t     testing.TB
	base  string
	token string
}

// do sends a JSON request and decodes a JSON answer into out (if not nil),
// failing the test unless the status is want.
func (c *client) do(method, path string, body any, want int, out any) {
	c.t.Helper()
	status, data := c.raw(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
}

// raw sends a JSON request and returns the status and body.
func (c *client) raw(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) (int, []byte) {
	c.t.Helper()
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, data
}

// signIn returns a client signed in as username.
func signIn(t testing.TB, base, username, password string) *client {
	t.Helper()
	c := &client{t: t, base: base}
	var out struct {
		Token string `json:"token"`
	}
	c.do("POST", "/api/auth/signin", J{"username": username, "password": password}, http.StatusOK, &out)
	c.token = out.Token
	return c
}

// upload streams content as a multipart upload, never holding it whole.
func (c *client) upload(name, format, filename string, content io.Reader) J {
	c.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if err := mw.WriteField("name", name); err != nil {
				return err
			}
			if err := mw.WriteField("format", format); err != nil {
				return err
			}
			fw, err := mw.CreateFormFile("file", filename)
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, content); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest("POST", c.base+"/api/datasources", pr)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	status, data := c.send(req)
	if status != http.StatusCreated {
		c.t.Fatalf("upload %s: status %d: %s", name, status, data)
	}
	var out J
	if err := json.Unmarshal(data, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// csvStream generates n bytes (at least) of CSV deterministically, without
// holding it in memory.
type csvStream struct {
	left int64
	row  int
	buf  []byte
}

func newCSVStream(n int64) *csvStream {
	return &csvStream{left: n, buf: []byte("id,region,product,amount\n")}
}

func (s *csvStream) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		if s.left <= 0 {
			return 0, io.EOF
		}
		s.row++
		s.buf = fmt.Appendf(s.buf[:0], "%d,region-%d,product-%d,%d\n", s.row, s.row%7, s.row%101, (s.row*7919)%10000)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	s.left -= int64(n)
	return n, nil
}

func id(j J) string { s, _ := j["id"].(string); return s }
