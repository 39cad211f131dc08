package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/seed"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/web"
)

// benchSize is the seeded state of BenchmarkListPages unless
// BITNOBI_BENCH_WEB_SIZE names one of seed.Sizes (S, M, L): many users,
// data sources and audit entries, little else, so that it seeds in seconds.
var benchSize = seed.Size{Name: "web", Users: 2000, Policies: 300, SQLSources: 20, Remotes: 3,
	UploadBytes: 6 << 20, MinUpload: 2 << 10, MaxUpload: 64 << 10, MedianUpload: 4 << 10, Audit: 200_000}

var benchState seededBench

// seededPages seeds a database (once per process) and returns the pages'
// handler and the administrator's session cookie.
func seededPages(b *testing.B) (http.Handler, *http.Cookie) {
	size := benchSize
	if name := os.Getenv("BITNOBI_BENCH_WEB_SIZE"); name != "" {
		size = seed.Sizes[name]
	}
	return benchState.get(b, size)
}

// seededBench is a database that benchmarks share, seeded once per
// process, and the pages' handler on it.
type seededBench struct {
	once    sync.Once
	handler http.Handler
	cookie  *http.Cookie
	err     error
}

// get seeds size into a new temporary directory the first time it is
// called (the directory is kept until the process ends: sub-benchmarks
// share it), and returns the pages' handler with every service and the
// administrator's session cookie.
func (s *seededBench) get(b *testing.B, size seed.Size) (http.Handler, *http.Cookie) {
	s.once.Do(func() { s.handler, s.cookie, s.err = seedBench(b, size) })
	if s.err != nil {
		b.Fatal(s.err)
	}
	return s.handler, s.cookie
}

func seedBench(b *testing.B, size seed.Size) (http.Handler, *http.Cookie, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bitnobi-web-bench-")
	if err != nil {
		return nil, nil, err
	}
	key, _, err := secret.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "bitnobi.db"))
	if err != nil {
		return nil, nil, err
	}
	db.Key, db.Blobs = key, blob.NewStore(filepath.Join(dir, "blobs"))
	st, err := (&seed.Seeder{DB: db, Size: size, Seed: 1}).Fill(ctx)
	if err != nil {
		return nil, nil, err
	}
	b.Logf("seeded %s in %s: %d users, %d file data sources, %d policies, %d workflows, %d audit entries",
		size.Name, st.Duration.Round(1e6), st.Users, st.FileSources, st.Policies, st.Workflows, st.AuditAdded)
	users := &store.UserService{DB: db}
	ws := web.NewServer()
	ws.Users, ws.Policies, ws.DataSources = users, &store.PolicyService{DB: db}, &store.DataSourceService{DB: db}
	ws.Workflows, ws.Reports = &store.WorkflowService{DB: db}, &store.ReportService{DB: db}
	ws.Remotes, ws.Settings, ws.Audit = &store.RemoteServerService{DB: db}, &store.SettingsService{DB: db}, &store.AuditService{DB: db}
	sess, _, err := users.SignIn(ctx, seed.AdminUser, seed.Password)
	if err != nil {
		return nil, nil, err
	}
	return ws.Handler(), &http.Cookie{Name: "bitnobi_session", Value: sess.Token}, nil
}

var nextRe = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// fetch serves path to the handler as the administrator and returns the
// body, failing unless the status is 200.
func fetch(b *testing.B, h http.Handler, c *http.Cookie, path string) string {
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

// BenchmarkListPages measures the server's time for one page of each long
// list, as the administrator (who sees every row), over a seeded state:
// the first page, and a page further on reached by the keyset cursor of
// the "Next page" link.
func BenchmarkListPages(b *testing.B) {
	h, c := seededPages(b)
	benchPages(b, h, c, []benchPage{
		{"audit/first", "/admin/audit", 0, "user.signup"},
		{"audit/page20", "/admin/audit", 20, "<tbody>"},
		{"audit/filtered", "/admin/audit?action=datasource.access", 0, "datasource.access"},
		{"users/first", "/admin/users", 0, "admin@"},
		{"users/page10", "/admin/users?sort=created", 10, "<tbody>"},
		{"datasources/first", "/datasources", 0, "<tbody>"},
		{"datasources/bysize/page5", "/datasources?sort=size&dir=desc", 5, "<tbody>"},
		{"policies", "/policies", 0, "Users matched today"},
	})
}

// benchPage is a page a benchmark serves: path, or the page reached from
// it by following "Next page" hops times, which must contain want.
type benchPage struct {
	name, path string
	hops       int
	want       string
}

// benchPages measures, in a sub-benchmark each, the server's time to
// serve each of pages to the holder of cookie c.
func benchPages(b *testing.B, h http.Handler, c *http.Cookie, pages []benchPage) {
	for _, bm := range pages {
		b.Run(bm.name, func(b *testing.B) {
			p := bm.path
			for range bm.hops {
				m := nextRe.FindStringSubmatch(fetch(b, h, c, p))
				if m == nil {
					b.Fatalf("%s has no next page", p)
				}
				p = strings.ReplaceAll(m[1], "&amp;", "&")
			}
			if body := fetch(b, h, c, p); !strings.Contains(body, bm.want) {
				b.Fatalf("%s lacks %q", p, bm.want)
			}
			b.ResetTimer()
			for b.Loop() {
				fetch(b, h, c, p)
			}
		})
	}
}
