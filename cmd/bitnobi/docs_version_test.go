package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// TestAPIDocVersionExample keeps the GET /api/version example of
// docs/api.md honest: its schema and backup format numbers must be this
// binary's. Update the example when a migration or a format is added.
func TestAPIDocVersionExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)GET /api/version\n```\n```json\n(\\{[^\n]*\\})\n```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md: no GET /api/version example followed by a JSON block")
	}
	var ex struct {
		SchemaVersion int `json:"schema_version"`
		LatestSchema  int `json:"latest_schema"`
		BackupFormat  int `json:"backup_format"`
	}
	if err := json.Unmarshal(m[1], &ex); err != nil {
		t.Fatalf("docs/api.md: the /api/version example: %v", err)
	}
	if want := store.LatestSchemaVersion(); ex.SchemaVersion != want || ex.LatestSchema != want {
		t.Errorf("docs/api.md: /api/version example shows schema_version %d, latest_schema %d; this binary's schema is %d",
			ex.SchemaVersion, ex.LatestSchema, want)
	}
	if ex.BackupFormat != format.FormatVersion {
		t.Errorf("docs/api.md: /api/version example shows backup_format %d; this binary writes %d", ex.BackupFormat, format.FormatVersion)
	}
}
