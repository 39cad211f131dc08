package web_test

import (
	"net/http"
	"testing"

	"github.com/bitnobi/bitnobi/internal/seed"
)

// benchWorkflowSize is the seeded state of BenchmarkWorkflowPages: many
// workflows and reports, a few runs, little else.
var benchWorkflowSize = seed.Size{Name: "workflows", Users: 200, Policies: 100, Workflows: 3000, Runs: 30, Reports: 1000,
	UploadBytes: 2 << 20, MinUpload: 2 << 10, MaxUpload: 64 << 10, MedianUpload: 4 << 10, Audit: 20_000}

var benchWorkflows seededBench

func seededWorkflowPages(b *testing.B) (http.Handler, *http.Cookie) {
	return benchWorkflows.get(b, benchWorkflowSize)
}

// BenchmarkWorkflowPages measures the server's time for the workflow and
// report lists as the administrator (who sees every row), the first page
// and one reached by the keyset cursor.
func BenchmarkWorkflowPages(b *testing.B) {
	h, c := seededWorkflowPages(b)
	benchPages(b, h, c, []benchPage{
		{"workflows/first", "/workflows", 0, "<tbody>"},
		{"workflows/byname/page10", "/workflows?sort=name", 10, "<tbody>"},
		{"reports", "/reports", 0, "<tbody>"},
	})
}
