package bitnobi_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/store"
)

// TestAPIDocVersionExample keeps docs/api.md's GET /api/version example
// honest: the schema and backup format numbers it shows are this
// binary's.
func TestAPIDocVersionExample(t *testing.T) {
	doc, err := os.ReadFile("docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)### .GET /api/version.*?` + "```json\n" + `(\{.*?\})\n`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no JSON example under GET /api/version")
	}
	var v bitnobi.VersionInfo
	if err := json.Unmarshal(m[1], &v); err != nil {
		t.Fatalf("the example %s: %v", m[1], err)
	}
	latest := store.LatestSchemaVersion()
	if v.SchemaVersion != latest || v.LatestSchema != latest {
		t.Errorf("docs/api.md shows schema_version %d and latest_schema %d, this binary's schema is %d", v.SchemaVersion, v.LatestSchema, latest)
	}
	if got, want := v.BackupFormat, backup.FormatVersion; got != want {
		t.Errorf("docs/api.md shows backup_format %d, want %d", got, want)
	}
}
