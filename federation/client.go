package federation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// Paths of the routes a server serves its peers.
const (
	StatusPath  = "/api/federation/status"
	ResultsPath = "/api/federation/results/" // + the workflow id
)

// Default limits of a [Client].
const (
	DefaultTimeout       = 60 * time.Second
	DefaultStatusTimeout = 5 * time.Second
	DefaultMaxRows       = 1_000_000
)

// Client sends signed requests to peers. It implements
// [workflow.RemoteFetcher]. The zero value is ready to use.
type Client struct {
	// HTTP is the client to use (nil: a default one, which verifies TLS
	// certificates of https URLs).
	HTTP *http.Client
	// Timeout bounds a whole fetch, reading the rows included
	// (0: DefaultTimeout).
	Timeout time.Duration
	// StatusTimeout bounds a status probe (0: DefaultStatusTimeout).
	StatusTimeout time.Duration
	// MaxRows is the most rows a fetch returns; a remote result with
	// more fails the run (0: DefaultMaxRows).
	MaxRows int64
	// Now is the clock requests are signed with (nil: time.Now).
	Now func() time.Time
}

var _ workflow.RemoteFetcher = (*Client)(nil)

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// newRequest builds a signed request to peer.
func (c *Client) newRequest(ctx context.Context, peer *bitnobi.Peer, method, path string, body []byte) (*http.Request, error) {
	u := strings.TrimRight(peer.URL, "/") + path
	r, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request to remote server %s: %w", peer.Name, err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	Sign(r, peer.ServiceID, peer.Secret, c.now(), body)
	return r, nil
}

// Status probes peer: [bitnobi.RemoteOnline] when it accepts this
// server's signature, [bitnobi.RemoteForbidden] when it answers but
// refuses it, [bitnobi.RemoteOffline] when it does not answer in time or
// fails.
func (c *Client) Status(ctx context.Context, peer *bitnobi.Peer) string {
	ctx, cancel := context.WithTimeout(ctx, orDuration(c.StatusTimeout, DefaultStatusTimeout))
	defer cancel()
	r, err := c.newRequest(ctx, peer, http.MethodGet, StatusPath, nil)
	if err != nil {
		return bitnobi.RemoteOffline
	}
	resp, err := c.httpClient().Do(r)
	if err != nil {
		return bitnobi.RemoteOffline
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch resp.StatusCode {
	case http.StatusOK:
		return bitnobi.RemoteOnline
	case http.StatusUnauthorized, http.StatusForbidden:
		return bitnobi.RemoteForbidden
	}
	return bitnobi.RemoteOffline
}

// ResultRequest is the body of a peer's request for a result.
type ResultRequest struct {
	User bitnobi.RemoteUser `json:"user"`
}

// ResultHeader is the first JSON line of a result response; the rows
// follow, one JSON array per line.
type ResultHeader struct {
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"` // how many rows follow
}

// FetchResult asks peer for the latest result of its workflow workflowID
// on behalf of user. The rows are read as the caller reads them, within
// Timeout of the call; past MaxRows they fail with ETOOLARGE. A refusal by
// the peer is an error that names the peer and says what it answered.
func (c *Client) FetchResult(ctx context.Context, peer *bitnobi.Peer, workflowID string, user bitnobi.RemoteUser) (workflow.Rows, error) {
	body, err := json.Marshal(ResultRequest{User: user})
	if err != nil {
		return nil, fmt.Errorf("encode result request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, orDuration(c.Timeout, DefaultTimeout))
	r, err := c.newRequest(ctx, peer, http.MethodPost, ResultsPath+url.PathEscape(workflowID), body)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := c.httpClient().Do(r)
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, bitnobi.Errorf(bitnobi.ECONFLICT, "Remote server %q did not answer within %s: it is offline or overloaded; try again later.", peer.Name, orDuration(c.Timeout, DefaultTimeout))
		}
		return nil, bitnobi.Errorf(bitnobi.ECONFLICT, "Remote server %q could not be reached (%v): it is offline, or its URL is wrong.", peer.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return nil, remoteError(peer, user.Username, resp)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	line, err := br.ReadBytes('\n')
	var h ResultHeader
	if err != nil || json.Unmarshal(line, &h) != nil {
		resp.Body.Close()
		cancel()
		return nil, bitnobi.Errorf(bitnobi.ECONFLICT, "Remote server %q sent a malformed result: is it a Bitnobi server of this version?", peer.Name)
	}
	rc := &readCloser{Reader: br, close: func() error { defer cancel(); return resp.Body.Close() }}
	rows := workflow.NewJSONLReader(ctx, h.Columns, rc)
	return &limited{Rows: rows, max: c.maxRows(), peer: peer.Name}, nil
}

func (c *Client) maxRows() int64 {
	if c.MaxRows > 0 {
		return c.MaxRows
	}
	return DefaultMaxRows
}

// remoteError turns a peer's error response into an error for the run.
func remoteError(peer *bitnobi.Peer, username string, resp *http.Response) error {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
	if e.Message == "" {
		e.Message = resp.Status
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Remote server %q refused this server's signed request: the pairing was revoked or disabled there, the two sides hold different secrets, or their clocks differ by more than %s. Ask the administrators of both servers to check the pairing.", peer.Name, MaxSkew)
	case http.StatusNotFound:
		return bitnobi.Errorf(bitnobi.ENOTFOUND, "Remote server %q refused the result: it has no such workflow, or does not share it with %q under the attributes this server sent. Ask the workflow's owner there to share it under a policy matching that user.", peer.Name, username)
	case http.StatusForbidden, http.StatusConflict, http.StatusBadRequest:
		code := e.Code
		if code == "" || code == bitnobi.EINTERNAL {
			code = bitnobi.EFORBIDDEN
		}
		return bitnobi.Errorf(code, "Remote server %q refused the result: %s", peer.Name, e.Message)
	}
	return bitnobi.Errorf(bitnobi.ECONFLICT, "Remote server %q failed (%s): %s", peer.Name, resp.Status, e.Message)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// limited fails a stream past max rows.
type limited struct {
	workflow.Rows
	n, max int64
	peer   string
}

func (l *limited) Next() ([]any, error) {
	row, err := l.Rows.Next()
	if err != nil {
		return nil, err
	}
	if l.n++; l.n > l.max {
		return nil, bitnobi.Errorf(bitnobi.ETOOLARGE, "The result of remote server %q has more than %d rows, the limit of External Data Source elements: have its owner make it smaller.", l.peer, l.max)
	}
	return row, nil
}
