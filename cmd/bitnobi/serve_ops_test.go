package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/internal/smtptest"
	"github.com/bitnobi/bitnobi/offsite/s3test"
)

// listBackups returns the complete backups of folder.
func listBackups(t *testing.T, folder string) []backup.Info {
	t.Helper()
	infos, err := backup.Folder{Path: folder}.Backups()
	if err != nil {
		t.Fatal(err)
	}
	var out []backup.Info
	for _, in := range infos {
		if in.Err == nil {
			out = append(out, in)
		}
	}
	return out
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen in %s; server log:\n%s", what, d, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// newServeMain is a Main for serve whose clock runs offset from the real
// one, so that a scheduled time comes in seconds.
func newServeMain(env map[string]string, logs *syncBuffer, offset time.Duration) *Main {
	return &Main{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs, Getenv: func(k string) string { return env[k] },
		now: func() time.Time { return time.Now().Add(offset) }, childEnv: []string{envRunMain + "=1"}}
}

// TestServeSchedule: the server runs its own backup at the scheduled
// time, as a child process running "bitnobi backup" (then the retention),
// reports it in /metrics, and answers /api/health and /api/ready.
func TestServeSchedule(t *testing.T) {
	root := t.TempDir()
	dataDir, folder := filepath.Join(root, "data"), filepath.Join(root, "backup")
	// The clock says 02:14:57 UTC: the default schedule's 02:15 is three
	// seconds away.
	now := time.Now().UTC()
	target := time.Date(now.Year(), now.Month(), now.Day(), 2, 14, 57, 0, time.UTC)
	var logs syncBuffer
	m := newServeMain(nil, &logs, target.Sub(now))
	// Verifications at the same time: they run after the backup, one
	// task at a time.
	s := startServerMain(t, m, &logs, dataDir, "--log-level", "info",
		"--backup-verify-schedule", "15 2 * * *", "--backup-deep-verify-schedule", "daily at 02:15")

	if code, body := get(t, s.URL+"/api/health"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("health: %d %s", code, body)
	}
	code, body := get(t, s.URL+"/api/ready")
	if code != 200 || !strings.Contains(body, `"database":"ok"`) || !strings.Contains(body, `"data_dir":"ok"`) {
		t.Fatalf("ready: %d %s", code, body)
	}
	if len(listBackups(t, folder)) != 0 {
		t.Fatal("a backup at start-up of a fresh installation")
	}
	waitFor(t, 60*time.Second, "the scheduled backup", func() bool { return len(listBackups(t, folder)) == 1 }, &logs)
	waitFor(t, 60*time.Second, "the scheduled backup's and verifications' success in /metrics", func() bool {
		_, body := get(t, s.URL+"/metrics")
		return strings.Contains(body, `bitnobi_scheduled_last_success_timestamp_seconds{task="backup"}`) &&
			strings.Contains(body, `bitnobi_scheduled_last_success_timestamp_seconds{task="verify"}`) &&
			strings.Contains(body, `bitnobi_scheduled_last_success_timestamp_seconds{task="deep_verify"}`)
	}, &logs)
	if v, err := (backup.Folder{Path: folder}).Verification(listBackups(t, folder)[0].Name); err != nil || v == nil || !v.OK || !v.Deep {
		t.Fatalf("the backup's recorded verification: %+v, %v; want a passed deep one", v, err)
	}
	_, metrics := get(t, s.URL+"/metrics")
	for _, want := range []string{`bitnobi_scheduled_failures_total{task="backup"} 0`, `bitnobi_http_requests_total{code="200",method="GET",route="/api/health"} 1`, "bitnobi_backup_newest_good_timestamp_seconds", "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	s.Stop(t)
	if !strings.Contains(logs.String(), "scheduled backup: done") {
		t.Fatalf("log does not say the backup was done:\n%s", logs.String())
	}

	// Started again two days later (the clock moved, the server was
	// down): the missed run runs once at start-up.
	// The backups are named and dated by the real clock, so the default
	// retention (newest of each day) may prune the first one once the
	// second is made: wait for a backup that is not the first.
	first := listBackups(t, folder)[0].Name
	var logs2 syncBuffer
	m = newServeMain(nil, &logs2, target.Sub(now)+48*time.Hour+time.Hour)
	s = startServerMain(t, m, &logs2, dataDir, "--log-level", "info")
	waitFor(t, 60*time.Second, "the missed backup", func() bool {
		bs := listBackups(t, folder)
		return len(bs) > 0 && bs[len(bs)-1].Name != first
	}, &logs2)
	s.Stop(t)
	if !strings.Contains(logs2.String(), "was missed, running it now") {
		t.Fatalf("log does not say a run was missed:\n%s", logs2.String())
	}
}

// TestServeScheduleLocked: a scheduled backup that finds the backup
// folder locked by another (a CLI backup or prune) waits
// --backup-lock-wait, then skips and says so, and fails nothing.
func TestServeScheduleLocked(t *testing.T) {
	root := t.TempDir()
	dataDir, folder := filepath.Join(root, "data"), filepath.Join(root, "backup")
	if err := os.MkdirAll(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := lockfile.Acquire(filepath.Join(folder, ".lock"), "backup")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	now := time.Now().UTC()
	target := time.Date(now.Year(), now.Month(), now.Day(), 2, 14, 58, 0, time.UTC)
	var logs syncBuffer
	m := newServeMain(nil, &logs, target.Sub(now))
	s := startServerMain(t, m, &logs, dataDir, "--log-level", "info", "--backup-lock-wait", "1s")
	waitFor(t, 60*time.Second, "the skip", func() bool {
		return strings.Contains(logs.String(), "skipped, another backup or prune held the backup folder")
	}, &logs)
	_, metrics := get(t, s.URL+"/metrics")
	if !strings.Contains(metrics, `bitnobi_scheduled_failures_total{task="backup"} 0`) {
		t.Errorf("a skip counted as a failure:\n%s", metrics)
	}
	s.Stop(t)
}

// TestServeMetricsAllow: /metrics is refused to an address not allowed,
// without a token.
func TestServeMetricsAllow(t *testing.T) {
	var logs syncBuffer
	m := newServeMain(nil, &logs, 0)
	s := startServerMain(t, m, &logs, filepath.Join(t.TempDir(), "data"), "--metrics-allow", "10.0.0.0/8", "--backup-schedule", "off")
	code, body := get(t, s.URL+"/metrics")
	var e struct{ Code string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != http.StatusForbidden || e.Code != "forbidden" {
		t.Fatalf("/metrics from 127.0.0.1 with --metrics-allow 10.0.0.0/8: %d %s", code, body)
	}
	s.Stop(t)
}

// TestServeAlertMail: a scheduled backup that fails e-mails every
// administrator once, through a real SMTP server, and GET /api/warnings
// shows it.
func TestServeAlertMail(t *testing.T) {
	env := smtptest.Get(t)
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	// The backup folder is a file: every backup fails.
	notDir := filepath.Join(root, "backup-is-a-file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	target := now.Truncate(time.Minute).Add(57 * time.Second)
	if target.Before(now) {
		target = target.Add(time.Minute)
	}
	var logs syncBuffer
	m := newServeMain(map[string]string{EnvBackupDir: notDir, EnvSMTPCAFile: os.Getenv(smtptest.EnvCA)}, &logs, target.Sub(now)-time.Minute)
	s := startServerMain(t, m, &logs, dataDir, "--log-level", "info", "--backup-schedule", "* * * * *")
	adminMail := "admin-alert-" + filepath.Base(root) + "@example.org"
	c := &client{t: t, base: s.URL}
	c.do("POST", "/api/auth/signup", J{"username": "admin", "email": adminMail, "password": "admin password 1"}, http.StatusCreated, nil)
	c = signIn(t, s.URL, "admin", "admin password 1")
	c.do("PUT", "/api/settings/email", J{"from": "bitnobi@example.org", "host": env.TLS.Host, "port": env.TLS.Port, "user": env.User,
		"password": env.Password, "security": "tls", "enabled": true}, http.StatusOK, nil)
	c.do("POST", "/api/settings/email/test", J{}, http.StatusOK, nil)
	env.TLS.Find(t, adminMail, "Bitnobi test e-mail")

	host, _ := os.Hostname()
	msg := env.TLS.Find(t, adminMail, "Bitnobi on "+host+": backup failed")
	if !strings.Contains(msg.Text, "The scheduled backup failed") {
		t.Fatalf("alert text %q", msg.Text)
	}
	var ws struct{ Warnings []J }
	c.do("GET", "/api/warnings", nil, http.StatusOK, &ws)
	if len(ws.Warnings) == 0 || ws.Warnings[0]["kind"] != "backup_failed" || ws.Warnings[0]["mailed"] != true {
		t.Fatalf("warnings %v", ws)
	}
	// The next failure, a minute later, is the same incident: no second
	// e-mail.
	waitFor(t, 90*time.Second, "a second failure", func() bool { return strings.Count(logs.String(), `msg="scheduled backup failed"`) >= 2 }, &logs)
	if n := env.TLS.Count(t, adminMail); n != 2 { // the test e-mail and one alert
		t.Fatalf("%d messages to the administrator, want 2", n)
	}
	_, metrics := get(t, s.URL+"/metrics")
	if !strings.Contains(metrics, `bitnobi_scheduled_failures_total{task="backup"} 2`) {
		t.Errorf("failure counter not 2:\n%s", metrics)
	}
	s.Stop(t)
}

// TestServeScheduleOffsite: with an off-site target set through the API
// (its secret key sealed in the database), the scheduled backup is pushed
// to a real S3 server (versitygw) and listed there complete.
func TestServeScheduleOffsite(t *testing.T) {
	s3 := s3test.Shared(t)
	root := t.TempDir()
	dataDir, folder := filepath.Join(root, "data"), filepath.Join(root, "backup")
	now := time.Now().UTC()
	target := time.Date(now.Year(), now.Month(), now.Day(), 2, 14, 55, 0, time.UTC)
	var logs syncBuffer
	m := newServeMain(nil, &logs, target.Sub(now))
	s := startServerMain(t, m, &logs, dataDir, "--log-level", "info")
	c := &client{t: t, base: s.URL}
	c.do("POST", "/api/auth/signup", J{"username": "admin", "email": "admin@example.org", "password": "admin password 1"}, http.StatusCreated, nil)
	c = signIn(t, s.URL, "admin", "admin password 1")
	tg := s3.Target
	c.do("PUT", "/api/settings/backup", J{"enabled": true, "schedule": "daily at 02:15", "retention": J{"keep_daily": 7},
		"offsite":            J{"endpoint": tg.Endpoint, "bucket": tg.Bucket, "prefix": tg.Prefix, "access_key": tg.AccessKeyID},
		"offsite_secret_key": tg.SecretAccessKey}, http.StatusOK, nil)
	waitFor(t, 90*time.Second, "the scheduled off-site copy", func() bool {
		_, body := get(t, s.URL+"/metrics")
		return strings.Contains(body, `bitnobi_scheduled_last_success_timestamp_seconds{task="offsite"}`)
	}, &logs)
	local := listBackups(t, folder)
	entries, err := s3.Open(t).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(local) != 1 || len(entries) != 1 || entries[0].Name != local[0].Name || !entries[0].Complete {
		t.Fatalf("local %v, remote %+v: want the one backup, complete, in the bucket", local, entries)
	}
	s.Stop(t)
}
