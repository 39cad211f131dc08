package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
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

// benchWorkflowSize is the seeded state of BenchmarkWorkflowPages: many
// workflows and reports, a few runs, little else.
var benchWorkflowSize = seed.Size{Name: "workflows", Users: 200, Policies: 100, Workflows: 3000, Runs: 30, Reports: 1000,
	UploadBytes: 2 << 20, MinUpload: 2 << 10, MaxUpload: 64 << 10, MedianUpload: 4 << 10, Audit: 20_000}

var benchWorkflows struct {
	once    sync.Once
	handler http.Handler
	cookie  *http.Cookie
	err     error
}

func seededWorkflowPages(b *testing.B) (http.Handler, *http.Cookie) {
	benchWorkflows.once.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "bitnobi-web-wf-bench-")
		if err != nil {
			benchWorkflows.err = err
			return
		}
		key, _, err := secret.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"))
		if err != nil {
			benchWorkflows.err = err
			return
		}
		db, err := sqlite.Open(ctx, filepath.Join(dir, "bitnobi.db"))
		if err != nil {
			benchWorkflows.err = err
			return
		}
		db.Key, db.Blobs = key, blob.NewStore(filepath.Join(dir, "blobs"))
		st, err := (&seed.Seeder{DB: db, Size: benchWorkflowSize, Seed: 1}).Fill(ctx)
		if err != nil {
			benchWorkflows.err = err
			return
		}
		b.Logf("seeded in %s: %d users, %d audit entries", st.Duration.Round(1e6), st.Users, st.AuditAdded)
		users := &store.UserService{DB: db}
		ws := web.NewServer()
		ws.Users, ws.Policies, ws.DataSources = users, &store.PolicyService{DB: db}, &store.DataSourceService{DB: db}
		ws.Workflows, ws.Reports = &store.WorkflowService{DB: db}, &store.ReportService{DB: db}
		ws.Remotes, ws.Settings, ws.Audit = &store.RemoteServerService{DB: db}, &store.SettingsService{DB: db}, &store.AuditService{DB: db}
		benchWorkflows.handler = ws.Handler()
		sess, _, err := users.SignIn(ctx, seed.AdminUser, seed.Password)
		if err != nil {
			benchWorkflows.err = err
			return
		}
		benchWorkflows.cookie = &http.Cookie{Name: "bitnobi_session", Value: sess.Token}
	})
	if benchWorkflows.err != nil {
		b.Fatal(benchWorkflows.err)
	}
	return benchWorkflows.handler, benchWorkflows.cookie
}

// BenchmarkWorkflowPages measures the server's time for the workflow and
// report lists as the administrator (who sees every row), the first page
// and one reached by the keyset cursor.
func BenchmarkWorkflowPages(b *testing.B) {
	h, c := seededWorkflowPages(b)
	for _, bm := range []struct {
		name, path string
		hops       int
		want       string
	}{
		{"workflows/first", "/workflows", 0, "<tbody>"},
		{"workflows/byname/page10", "/workflows?sort=name", 10, "<tbody>"},
		{"reports", "/reports", 0, "<tbody>"},
	} {
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
