package web_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestNoThirdPartyAssets checks that no template or static file loads
// anything from another origin (no CDN: every script and style is this
// server's own) and that no template has an inline script or handler,
// which the Content-Security-Policy would block anyway.
func TestNoThirdPartyAssets(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//`)
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=`)
	var n int
	for _, root := range []string{"templates", "static"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			n++
			if m := remote.Find(b); m != nil {
				t.Errorf("%s loads from another origin: %q", path, m)
			}
			if filepath.Ext(path) == ".html" {
				if m := inline.Find(b); m != nil {
					t.Errorf("%s has inline script: %q", path, m)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 10 {
		t.Fatalf("checked only %d files", n)
	}
}
