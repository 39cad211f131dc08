package bitnobi_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportArrows keeps the architecture's import arrows: the root package
// imports only the standard library; the blob store and the secret sealer
// know nothing of databases, the API or backups; backup knows no engine;
// only cmd/ wires adapters together.
func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}`, "github.com/bitnobi/bitnobi/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/bitnobi/bitnobi"
	forbidden := map[string][]string{
		mod:                       {mod + "/"},
		mod + "/blob":             {mod + "/store", mod + "/sqlite", mod + "/httpapi", mod + "/backup", mod + "/postgres"},
		mod + "/secret":           {mod + "/store", mod + "/sqlite", mod + "/httpapi", mod + "/backup", mod + "/postgres", mod + "/blob"},
		mod + "/httpapi":          {mod + "/store", mod + "/sqlite", mod + "/backup", mod + "/postgres"},
		mod + "/workflow":         {mod + "/store", mod + "/sqlite", mod + "/httpapi", mod + "/backup"},
		mod + "/internal/datadir": {mod + "/store", mod + "/sqlite"},
		// What differs between engines lives in a dialect (store.Dialect)
		// or behind backup.LocalDB and backup.Target, never in backup.
		mod + "/backup":           {mod + "/sqlite", mod + "/postgres", mod + "/httpapi"},
		mod + "/backup/archive":   {mod + "/sqlite", mod + "/postgres", mod + "/httpapi"},
		mod + "/backup/retention": {mod + "/sqlite", mod + "/postgres", mod + "/httpapi"},
		// The format is read and written by backup, never the other way.
		mod + "/backup/format": {mod + "/sqlite", mod + "/postgres", mod + "/httpapi", mod + "/backup", mod + "/store"},
		mod + "/offsite":       {mod + "/store", mod + "/sqlite", mod + "/httpapi", mod + "/postgres"},
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		bad, ok := forbidden[pkg]
		if !ok {
			continue
		}
		seen++
		for _, imp := range strings.Fields(imports) {
			for _, b := range bad {
				if imp == b || strings.HasPrefix(imp, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(imp, b)) {
					t.Errorf("%s imports %s: against the architecture (see README, Design)", pkg, imp)
				}
			}
		}
	}
	if seen < 8 {
		t.Fatalf("go list found only %d of the checked packages: output %q", seen, out)
	}
}
