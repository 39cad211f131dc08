package format_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpecNamesItsFiles keeps docs/backup-format.md and the code side by
// side: every section of the specification names the files that
// implement it ("*Implemented in* ..."), and every file it names exists.
func TestSpecNamesItsFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "docs", "backup-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	pathRE := regexp.MustCompile("`(backup/[^`]*)`")
	sections, named := 0, 0
	var section string
	inCode := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode {
			continue
		}
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ") {
			if section != "" {
				t.Errorf("section %q names no file that implements it", section)
			}
			section = line
			sections++
			continue
		}
		if !strings.HasPrefix(line, "*Implemented in* ") {
			continue
		}
		if section == "" {
			t.Errorf("%q is not under a section", line)
		}
		section = ""
		for _, m := range pathRE.FindAllStringSubmatch(line, -1) {
			named++
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
				t.Errorf("docs/backup-format.md names %s, which is not there: %v", m[1], err)
			}
		}
	}
	if section != "" {
		t.Errorf("section %q names no file that implements it", section)
	}
	if sections < 20 || named < sections {
		t.Fatalf("%d sections naming %d files: the check found too little to prove anything", sections, named)
	}
}
