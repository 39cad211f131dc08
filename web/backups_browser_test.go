package web_test

// The backups page against the real binary: "bitnobi serve" runs as a
// child process (built from ../cmd/bitnobi), so "Back up now", verify,
// download and delete run the real CLI commands it starts in turn. The
// browser reaches it through a reverse proxy on the harness's test server.

import (
	"context"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// bitnobiBinary builds cmd/bitnobi into a temporary directory of t (the
// build cache makes a second build cheap).
func bitnobiBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bitnobi")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/bitnobi").CombinedOutput(); err != nil {
		t.Fatalf("build bitnobi: %v\n%s", err, out)
	}
	return bin
}

// serveBinary runs "bitnobi serve" on a fresh data directory and returns
// its URL and backup folder.
func serveBinary(t *testing.T) (string, string) {
	t.Helper()
	bin := bitnobiBinary(t)
	root := t.TempDir()
	dataDir, folder := filepath.Join(root, "data"), filepath.Join(root, "backup")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", dataDir, "--listen", addr, "--log-level", "warn")
	// The schedule stays off, so that no scheduled backup runs beside the
	// test's (the override shows on the page, as it would for an operator).
	cmd.Env = append(os.Environ(), "BITNOBI_BACKUP_SCHEDULE=off", "BITNOBI_BACKUP_DIR="+folder)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("bitnobi serve says:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return base, folder
		}
		if time.Now().After(deadline) {
			t.Fatalf("bitnobi serve did not listen on %s in 60s:\n%s", addr, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitText waits until sel's text contains want.
func (b *browser) waitText(sel, want string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(() => { const el = document.querySelector(`+jsString(sel)+`); return el ? el.innerText : ""; })()`))
		if err == nil && strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s does not show %q after %s; page shows:\n%s", sel, want, within, b.text("main"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestBrowserBackups: the administrator backs up now and sees the backup
// listed, verifies it, downloads it, gets the restore command, edits the
// schedule (a bad value first), and deletes the backup; another user
// cannot open the page.
func TestBrowserBackups(t *testing.T) {
	b := newBrowser(t)
	base, folder := serveBinary(t)
	target, _ := url.Parse(base)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(proxy.Close)
	b.e = &env{HTTP: proxy}

	b.signUp("admin", pw)
	b.open("/admin/backups")
	b.mustSee("No backups yet", "Secret key: not set", "override these settings: enabled")
	b.checkPage("backups-empty")

	// Back up now: the page follows the running backup, then lists it.
	b.follow("#backup-now")
	b.waitText("#local-backups", "backup-", 90*time.Second)
	b.waitText("#job-status", "is done", 10*time.Second)
	entries, err := os.ReadDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "backup-") {
			name = e.Name()
		}
	}
	if name == "" {
		t.Fatalf("the page lists a backup, but %s holds none: %v", folder, entries)
	}
	row := `tr[data-backup="` + name + `"]`
	if got := b.text(row); !strings.Contains(got, "never") {
		t.Errorf("row of a new backup: %q, want last verification never", got)
	}

	// Verify it.
	b.follow(row + ` form[action$="/verify"] button`)
	b.waitPath(`^/admin/backups`)
	b.mustSee(name + " verified")
	if got := b.text(row); !strings.Contains(got, "ok") {
		t.Errorf("row after verify: %q, want ok", got)
	}
	b.checkPage("backups")

	// Download it: the export archive (zstd), as an attachment.
	type dl struct {
		Status      int    `json:"status"`
		Disposition string `json:"disposition"`
		Magic       string `json:"magic"`
		Size        int    `json:"size"`
	}
	got := get(b, "download", chromedp.Evaluate[dl](`(() => {
		const x = new XMLHttpRequest();
		x.open("GET", document.querySelector(`+jsString(row+` a[href$="/download"]`)+`).getAttribute("href"), false);
		x.overrideMimeType("text/plain; charset=x-user-defined");
		x.send();
		const t = x.responseText;
		const magic = [0, 1, 2, 3].map((i) => (t.charCodeAt(i) & 255).toString(16)).join(" ");
		return {status: x.status, disposition: x.getResponseHeader("Content-Disposition") || "", magic, size: t.length};
	})()`))
	if got.Status != 200 || got.Magic != "28 b5 2f fd" || !strings.Contains(got.Disposition, name+".tar.zst") || got.Size < 1000 {
		t.Fatalf("download: %+v, want 200, a zstd archive (28 b5 2f fd) named %s.tar.zst", got, name)
	}
	b.open("/admin/audit")
	b.mustSee("backup.download")

	// The restore command.
	b.open("/admin/backups")
	b.follow(row + ` a[href*="restore="]`)
	if got, want := b.text("#restore-command"), "bitnobi restore "+name+" --data-dir NEW-DATA-DIR"; got != want {
		t.Errorf("restore command %q, want %q", got, want)
	}

	// A bad schedule: the error beside the field, the value kept.
	b.open("/admin/backups")
	b.setValue("#f-schedule", "every full moon")
	b.follow(`#backup-settings button[type=submit]`)
	if got := b.text("#f-schedule-error"); !strings.Contains(got, "is not a schedule") {
		t.Fatalf("schedule error %q", got)
	}
	b.checkPage("backups-invalid")
	b.setValue("#f-schedule", "daily at 03:30")
	b.setValue("#f-retention_keep_daily", "10")
	b.follow(`#backup-settings button[type=submit]`)
	b.waitPath(`^/admin/backups`)
	b.mustSee("The backup settings are saved.")
	if got := get(b, "schedule", chromedp.Evaluate[string](`document.querySelector("#f-schedule").value + "|" + document.querySelector("#f-retention_keep_daily").value`)); got != "daily at 03:30|10" {
		t.Errorf("saved settings show %q", got)
	}

	// Delete it, confirming by name.
	b.click(row + ` summary`)
	b.setValue(`#confirm-`+name, name)
	b.follow(row + ` form[action$="/delete"] button`)
	b.waitPath(`^/admin/backups`)
	b.mustSee(name+" is deleted.", "No backups yet")
	if _, err := os.Stat(filepath.Join(folder, name)); !os.IsNotExist(err) {
		t.Errorf("%s still in the folder: %v", name, err)
	}
	b.open("/admin/audit")
	b.mustSee("backup.delete")

	// Another user cannot open the page.
	b.signOut()
	b.signUp("bob", pw)
	b.open("/admin/backups")
	b.mustSee("Only the administrator")
	if got := b.path(); got != "/admin/backups" {
		t.Errorf("bob is at %s", got)
	}
}
