package httpapi_test

import (
	"bufio"
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/bitnobi/bitnobi/httpapi"
)

// apiDocHeading matches a route heading of docs/api.md: ### `METHOD /path`.
var apiDocHeading = regexp.MustCompile("^### `([A-Z]+) (/[^`]*)`\\s*$")

// TestAPIDoc keeps docs/api.md and the routes in step: every route the
// server registers has a section, and every section is a route.
func TestAPIDoc(t *testing.T) {
	s := httpapi.NewServer()
	s.Handler()
	routed := map[string]bool{}
	for _, r := range s.Routes {
		routed[r.Method+" "+r.Pattern] = true
	}
	if !routed["GET /api/version"] {
		t.Fatalf("GET /api/version is not among the routes: %v", s.Routes)
	}

	f, err := os.Open("../docs/api.md")
	if err != nil {
		t.Fatalf("open API doc: %v", err)
	}
	defer f.Close()
	documented := map[string]int{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		if m := apiDocHeading.FindStringSubmatch(sc.Text()); m != nil {
			key := m[1] + " " + m[2]
			if documented[key] != 0 {
				t.Errorf("docs/api.md:%d: %s is documented twice (first at line %d)", line, key, documented[key])
			}
			documented[key] = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	var missing, extra []string
	for r := range routed {
		if documented[r] == 0 {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routed[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("route %s is not documented in docs/api.md (add a heading \"### `%s`\")", r, r)
	}
	for _, d := range extra {
		t.Errorf("docs/api.md:%d documents %s, which is not routed", documented[d], d)
	}
}
