// Command load drives a fixed-rate mix of API requests against a Bitnobi
// server on this machine, for bench/run.sh: it measures how much a backup
// running beside the server slows the API down.
//
//	load -addr 127.0.0.1:8000 -rate 50 -duration 20s -samples out.tsv
//	load -summarize out.tsv [-from UNIX_NS] [-to UNIX_NS]
//
// The first form signs in as the seeded administrator (bitnobi dev seed)
// and sends -rate requests a second for -duration, open-loop: a request
// starts on schedule whether or not earlier ones have finished, at most
// -max-inflight at a time (a request that would exceed it is counted as
// dropped, not sent late). The mix is 80% reads (workflows, policies, data
// sources, reports, a page of the audit log, the signed-in user) and 20%
// writes (create, edit and delete policies; upload a small CSV), each
// write audited by the server in its transaction. It prints the latency
// percentiles and writes every request's start time, latency and status
// to -samples.
//
// The second form prints the percentiles of the requests in -samples that
// started within [from, to) (Unix nanoseconds): bench/run.sh passes the
// time a backup ran. -kind writes keeps only the audited writes (create,
// edit, delete, upload), -kind reads only the reads: bench/run.sh compares
// the audited writes' latency between two builds.
//
// Only loopback addresses are accepted: this is a benchmark, not a load
// test of someone else's server.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// sample is one request's outcome.
type sample struct {
	start   int64 // Unix ns
	latency time.Duration
	status  int // HTTP status, 0 for a transport error, -1 for dropped
	op      string
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "server address (loopback only)")
	rate := fs.Float64("rate", 50, "requests per second")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	maxInflight := fs.Int("max-inflight", 64, "most requests in flight; more are dropped")
	user := fs.String("user", "admin", "username to sign in as")
	password := fs.String("password", "bitnobi-seed-password", "password (the seeded users' by default)")
	samples := fs.String("samples", "", "write every request's start (Unix ns), latency (ns), status and operation here, tab-separated")
	summarize := fs.String("summarize", "", "instead of sending, summarize this samples file")
	from := fs.Int64("from", 0, "with -summarize: only requests started at or after this Unix ns")
	to := fs.Int64("to", 0, "with -summarize: only requests started before this Unix ns (0: no bound)")
	kind := fs.String("kind", "all", "with -summarize: all requests, only reads or only writes (the audited ones)")
	seed := fs.Uint64("seed", 1, "seed of the request mix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *summarize != "" {
		ss, err := readSamples(*summarize)
		if err != nil {
			return err
		}
		ss, err = ofKind(window(ss, *from, *to), *kind)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, summary(ss))
		return nil
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if *rate <= 0 || *rate > 5000 {
		return fmt.Errorf("-rate %v: want 0 < rate <= 5000", *rate)
	}
	if *duration <= 0 || *duration > time.Hour {
		return fmt.Errorf("-duration %v: want at most an hour", *duration)
	}
	c := &client{
		base: "http://" + *addr,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *maxInflight}},
		r:    rand.New(rand.NewPCG(*seed, 0x6c6f6164)),
	}
	if err := c.signIn(*user, *password); err != nil {
		return err
	}
	ss := c.drive(*rate, *duration, *maxInflight)
	if *samples != "" {
		if err := writeSamples(*samples, ss); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, summary(ss))
	return nil
}

// checkLoopback refuses an address that is not this machine's loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("-addr %q is not a loopback address: this tool only loads a server on this machine", addr)
		}
	}
	return nil
}

type client struct {
	base  string
	http  *http.Client
	token string

	mu       sync.Mutex
	r        *rand.Rand
	policies []string // IDs of policies this run created and not yet deleted
	auditMax int64
}

func (c *client) do(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, data, err
}

func (c *client) signIn(user, password string) error {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	status, data, err := c.do("POST", "/api/auth/signin", "application/json", body)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	var out struct {
		Token string `json:"token"`
	}
	if status != http.StatusOK || json.Unmarshal(data, &out) != nil || out.Token == "" {
		return fmt.Errorf("sign in as %s: HTTP %d: %s", user, status, strings.TrimSpace(string(data)))
	}
	c.token = out.Token
	// How far the audit log goes, to page through it at random.
	if status, data, err := c.do("GET", "/api/audit/verify", "", nil); err == nil && status == http.StatusOK {
		var v map[string]any
		if json.Unmarshal(data, &v) == nil {
			for _, k := range []string{"entries", "count", "checked"} {
				if n, ok := v[k].(float64); ok {
					c.auditMax = int64(n)
				}
			}
		}
	}
	return nil
}

// drive sends requests at rate for d and returns their samples, in
// start order.
func (c *client) drive(rate float64, d time.Duration, maxInflight int) []sample {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	out := make([]sample, n)
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := 0; i < n; i++ {
		at := begin.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		op := c.pick()
		select {
		case sem <- struct{}{}:
		default:
			out[i] = sample{start: at.UnixNano(), status: -1, op: op}
			continue
		}
		wg.Add(1)
		go func(i int, op string) {
			defer wg.Done()
			defer func() { <-sem }()
			st := time.Now()
			status, did := c.request(op)
			out[i] = sample{start: st.UnixNano(), latency: time.Since(st), status: status, op: did}
		}(i, op)
	}
	wg.Wait()
	return out
}

// The request mix: operation and weight (out of 100).
var mix = []struct {
	op     string
	weight int
}{
	{"list-workflows", 15}, {"list-policies", 15}, {"list-datasources", 15}, {"list-reports", 10},
	{"audit-page", 15}, {"me", 10},
	{"create-policy", 8}, {"update-policy", 6}, {"delete-policy", 4}, {"upload-csv", 2},
}

func (c *client) pick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.r.IntN(100)
	for _, m := range mix {
		if n < m.weight {
			return m.op
		}
		n -= m.weight
	}
	return mix[0].op
}

func (c *client) randInt(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r.IntN(n)
}

// request performs op and returns the HTTP status (0 for a transport
// error) and the operation done: an edit or a deletion with no policy to
// change lists the policies instead.
func (c *client) request(op string) (int, string) {
	var status int
	var data []byte
	var err error
	switch op {
	case "list-workflows":
		status, _, err = c.do("GET", "/api/workflows", "", nil)
	case "list-policies":
		status, _, err = c.do("GET", "/api/policies", "", nil)
	case "list-datasources":
		status, _, err = c.do("GET", "/api/datasources", "", nil)
	case "list-reports":
		status, _, err = c.do("GET", "/api/reports", "", nil)
	case "me":
		status, _, err = c.do("GET", "/api/me", "", nil)
	case "audit-page":
		after := int64(0)
		if c.auditMax > 50 {
			after = int64(c.randInt(int(c.auditMax - 50)))
		}
		status, _, err = c.do("GET", "/api/audit?limit=50&after="+strconv.FormatInt(after, 10), "", nil)
	case "create-policy":
		body := fmt.Sprintf(`{"name":"load policy %d","description":"made by bench/load","attributes":{"organization":"Acme","department":"IT"}}`, c.randInt(1_000_000))
		status, data, err = c.do("POST", "/api/policies", "application/json", []byte(body))
		var p struct {
			ID string `json:"id"`
		}
		if err == nil && status < 300 && json.Unmarshal(data, &p) == nil && p.ID != "" {
			c.mu.Lock()
			c.policies = append(c.policies, p.ID)
			c.mu.Unlock()
		}
	case "update-policy", "delete-policy":
		c.mu.Lock()
		var id string
		if len(c.policies) > 0 {
			k := c.r.IntN(len(c.policies))
			id = c.policies[k]
			if op == "delete-policy" {
				c.policies = slices.Delete(c.policies, k, k+1)
			}
		}
		c.mu.Unlock()
		if id == "" {
			op = "list-policies"
			status, _, err = c.do("GET", "/api/policies", "", nil)
			break
		}
		if op == "delete-policy" {
			status, _, err = c.do("DELETE", "/api/policies/"+id, "", nil)
		} else {
			status, _, err = c.do("PATCH", "/api/policies/"+id, "application/json", []byte(`{"description":"edited by bench/load"}`))
		}
	case "upload-csv":
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("name", fmt.Sprintf("load upload %d", c.randInt(1_000_000)))
		mw.WriteField("format", "csv")
		fw, _ := mw.CreateFormFile("file", "load.csv")
		fmt.Fprintln(fw, "id,organization,amount")
		for i := 0; i < 2000; i++ {
			fmt.Fprintf(fw, "%d,%s,%d.%02d\n", i, []string{"Acme", "Globex", "Initech"}[i%3], c.randInt(10000), c.randInt(100))
		}
		mw.Close()
		status, _, err = c.do("POST", "/api/datasources", mw.FormDataContentType(), body.Bytes())
	}
	if err != nil {
		return 0, op
	}
	return status, op
}

// writes are the operations that change state, each audited by the server.
var writes = map[string]bool{"create-policy": true, "update-policy": true, "delete-policy": true, "upload-csv": true}

// ofKind returns the samples of kind "all", "reads" or "writes".
func ofKind(ss []sample, kind string) ([]sample, error) {
	if kind == "all" {
		return ss, nil
	}
	if kind != "reads" && kind != "writes" {
		return nil, fmt.Errorf("-kind %q: want all, reads or writes", kind)
	}
	var out []sample
	for _, s := range ss {
		if writes[s.op] == (kind == "writes") {
			out = append(out, s)
		}
	}
	return out, nil
}

func writeSamples(path string, ss []sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, s := range ss {
		fmt.Fprintf(w, "%d\t%d\t%d\t%s\n", s.start, s.latency.Nanoseconds(), s.status, s.op)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readSamples(path string) ([]sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []sample
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want 4 tab-separated fields", path, i+1)
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		lat, err2 := strconv.ParseInt(f[1], 10, 64)
		status, err3 := strconv.Atoi(f[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, sample{start: start, latency: time.Duration(lat), status: status, op: f[3]})
	}
	return out, nil
}

func window(ss []sample, from, to int64) []sample {
	var out []sample
	for _, s := range ss {
		if s.start >= from && (to == 0 || s.start < to) {
			out = append(out, s)
		}
	}
	return out
}

// summary returns one line of key=value pairs: requests, errors (status 0
// or >= 400 but 404, which a delete racing a delete may get), dropped,
// and latency percentiles in milliseconds.
func summary(ss []sample) string {
	var lat []time.Duration
	errs, dropped := 0, 0
	for _, s := range ss {
		switch {
		case s.status == -1:
			dropped++
			continue
		case s.status == 0 || (s.status >= 400 && s.status != http.StatusNotFound):
			errs++
		}
		lat = append(lat, s.latency)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		k := int(p*float64(len(lat))+0.5) - 1
		k = max(0, min(k, len(lat)-1))
		return float64(lat[k].Microseconds()) / 1000
	}
	return fmt.Sprintf("requests=%d errors=%d dropped=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f",
		len(ss), errs, dropped, pct(0.50), pct(0.90), pct(0.99), pct(1.0))
}
