package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/mail"
	"github.com/bitnobi/bitnobi/schedule"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/web"
)

// Environment variables of serve's scheduled backups, metrics and mail.
const (
	EnvBackupSchedule     = "BITNOBI_BACKUP_SCHEDULE"             // --backup-schedule
	EnvBackupKeep         = "BITNOBI_BACKUP_KEEP"                 // --backup-keep
	EnvBackupVerify       = "BITNOBI_BACKUP_VERIFY_SCHEDULE"      // --backup-verify-schedule
	EnvBackupDeepVerify   = "BITNOBI_BACKUP_DEEP_VERIFY_SCHEDULE" // --backup-deep-verify-schedule
	EnvBackupAlertHours   = "BITNOBI_BACKUP_ALERT_HOURS"          // --backup-alert-hours
	EnvMetricsAllow       = "BITNOBI_METRICS_ALLOW"               // --metrics-allow
	EnvPublicURL          = "BITNOBI_PUBLIC_URL"                  // --public-url
	EnvSMTPCAFile         = "BITNOBI_SMTP_CA_FILE"                // --smtp-ca-file
	defaultMetricsAllow   = "127.0.0.0/8,::1/128"
	defaultBackupLockWait = 30 * time.Minute
)

const serveOpsHelp = `
Scheduled backups: the server backs itself up, applies the retention
policy, copies each backup off-site (when a target is set) and verifies
the backups, as "bitnobi backup", "backups prune", "backups push" and
"backups verify" do: it runs those very commands, as child processes of
its own binary at low priority in a session of their own, one at a time.
They take the backup folder's lock, so a CLI backup or prune and a
scheduled one never run at once: the later one waits (--backup-lock-wait)
and then skips, saying so in the log. On a fresh installation the
schedule is on: a backup every night at 02:15 UTC, kept 7 daily, 5
weekly, 12 monthly and 3 yearly, every backup re-read on Sundays at
05:00, the newest restored trially on the 1st of each month at 05:30, and
a warning (e-mailed to every administrator, once per incident, and shown
by GET /api/warnings) when no good backup is younger than 26 hours.
Administrators change it through PUT /api/settings/backup (stored in the
database, so backed up); these flags and variables override the stored
settings field by field, for installations configured by files. A run
missed while the server was down runs once at start-up.
`

// opsFlags are serve's flags for the scheduled backups, metrics and mail.
type opsFlags struct {
	schedule, keep, verify, deepVerify, alertHours *string
	lockWait                                       *time.Duration
	metricsAllow, publicURL, smtpCAFile            *string
}

func (m *Main) addOpsFlags(fs *flag.FlagSet) *opsFlags {
	env := func(name string) string { return m.Getenv(name) }
	return &opsFlags{
		schedule: fs.String("backup-schedule", env(EnvBackupSchedule), `override the stored backup schedule: "daily at 02:15", "hourly at :30", "weekly on sunday at 03:00", a cron expression such as "15 2 * * *" (UTC), or "off" (env `+EnvBackupSchedule+`)`),
		keep:     fs.String("backup-keep", env(EnvBackupKeep), `override the stored retention: "daily=7,weekly=5,monthly=12,yearly=3" (also last, hourly, within=14d), or "all" to keep every backup (env `+EnvBackupKeep+`)`),
		verify:   fs.String("backup-verify-schedule", env(EnvBackupVerify), `override when every backup is verified (backups verify --all), or "off" (env `+EnvBackupVerify+`)`),
		deepVerify: fs.String("backup-deep-verify-schedule", env(EnvBackupDeepVerify),
			`override when the newest backup is restored trially (backups verify --deep), or "off" (env `+EnvBackupDeepVerify+`)`),
		alertHours:   fs.String("backup-alert-hours", env(EnvBackupAlertHours), "override the alert threshold: warn when no good backup is younger than `N` hours, 0 never (env "+EnvBackupAlertHours+")"),
		lockWait:     fs.Duration("backup-lock-wait", defaultBackupLockWait, "how long a scheduled backup or prune waits while another (a CLI one) holds the backup folder, before it skips"),
		metricsAllow: fs.String("metrics-allow", firstNonEmpty(env(EnvMetricsAllow), defaultMetricsAllow), "addresses (CIDR or IP, comma-separated) that may read /metrics without a session (env "+EnvMetricsAllow+")"),
		smtpCAFile:   fs.String("smtp-ca-file", env(EnvSMTPCAFile), "PEM `FILE` of certificates to trust, beside the system's, for the SMTP server (an internal CA) (env "+EnvSMTPCAFile+")"),
		publicURL:    fs.String("public-url", env(EnvPublicURL), "the server's address as users reach it, for links in e-mails, e.g. https://bitnobi.example.org (env "+EnvPublicURL+")"),
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// overrides returns the function that applies the flags to stored
// settings, after checking every flag.
func (f *opsFlags) overrides() (func(bitnobi.BackupSettings) (bitnobi.BackupSettings, []string), error) {
	sched := func(name, v string) error {
		if v == "" || v == "off" {
			return nil
		}
		if _, err := schedule.Parse(v); err != nil {
			return usagef(`--`+name+` "daily at 02:15"`, "--%s: %v", name, err)
		}
		return nil
	}
	for name, v := range map[string]string{"backup-schedule": *f.schedule, "backup-verify-schedule": *f.verify, "backup-deep-verify-schedule": *f.deepVerify} {
		if err := sched(name, v); err != nil {
			return nil, err
		}
	}
	var keep *bitnobi.Retention
	if *f.keep != "" {
		r, err := parseKeep(*f.keep)
		if err != nil {
			return nil, usagef(`--backup-keep daily=7,weekly=5,monthly=12`, "--backup-keep: %v", err)
		}
		keep = &r
	}
	alert := -1
	if *f.alertHours != "" {
		n, err := strconv.Atoi(*f.alertHours)
		if err != nil || n < 0 {
			return nil, usagef("--backup-alert-hours 26", "--backup-alert-hours: %q is not a number of hours", *f.alertHours)
		}
		alert = n
	}
	opt := func(v string) string {
		if v == "off" {
			return ""
		}
		return v
	}
	return func(set bitnobi.BackupSettings) (bitnobi.BackupSettings, []string) {
		fields := []string{}
		if v := *f.schedule; v != "" {
			set.Enabled = v != "off"
			fields = append(fields, "enabled")
			if set.Enabled {
				set.Schedule = v
				fields = append(fields, "schedule")
			}
		}
		if keep != nil {
			set.Retention = *keep
			fields = append(fields, "retention")
		}
		if *f.verify != "" {
			set.VerifySchedule = opt(*f.verify)
			fields = append(fields, "verify_schedule")
		}
		if *f.deepVerify != "" {
			set.DeepVerifySchedule = opt(*f.deepVerify)
			fields = append(fields, "deep_verify_schedule")
		}
		if alert >= 0 {
			set.AlertAfterHours = alert
			fields = append(fields, "alert_after_hours")
		}
		return set, fields
	}, nil
}

// parseKeep parses --backup-keep: "all", or rule=N pairs.
func parseKeep(s string) (bitnobi.Retention, error) {
	var r bitnobi.Retention
	if s == "all" {
		return r, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return r, fmt.Errorf("%q is not rule=N", part)
		}
		if k == "within" {
			if err := schedule.ValidWithin(v); err != nil {
				return r, err
			}
			r.KeepWithin = v
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r, fmt.Errorf("%s=%q: not a count", k, v)
		}
		dst := map[string]*int{"last": &r.KeepLast, "hourly": &r.KeepHourly, "daily": &r.KeepDaily, "weekly": &r.KeepWeekly, "monthly": &r.KeepMonthly, "yearly": &r.KeepYearly}[k]
		if dst == nil {
			return r, fmt.Errorf("unknown rule %q (last, hourly, daily, weekly, monthly, yearly, within)", k)
		}
		*dst = n
	}
	return r, nil
}

// parseAllow parses --metrics-allow.
func parseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, usagef("--metrics-allow 127.0.0.1/8,10.0.0.5", "--metrics-allow: %q is not an address or CIDR", part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// opsEnv is what serve wires together for the scheduled backups, the
// mail sender and the health checks.
type opsEnv struct {
	a         *app
	dsn       string
	folder    string
	logger    *slog.Logger
	overrides func(bitnobi.BackupSettings) (bitnobi.BackupSettings, []string)
	settings  *store.BackupSettingsService
	sender    *mail.Sender
	sched     *schedule.Scheduler
	publicURL string
	envTarget []string // BITNOBI_S3_*=... of serve's environment, when that names the target
	runner    *childRunner
}

// effective returns the settings in force and the off-site secret key:
// stored, then overridden. An off-site target in the environment
// (BITNOBI_S3_ENDPOINT...) replaces the stored one.
func (o *opsEnv) effective(ctx context.Context) (bitnobi.BackupSettings, string, error) {
	set, key, err := o.settings.Stored(ctx)
	if err != nil {
		return bitnobi.BackupSettings{}, "", err
	}
	eff, _ := o.overrides(*set)
	return eff, key, nil
}

// newSender returns the mail sender over the stored e-mail settings,
// trusting the certificates of caFile too, if set.
func newSender(a *app, caFile string) (*mail.Sender, error) {
	var roots *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("--smtp-ca-file /etc/ssl/certs/internal-ca.pem", "--smtp-ca-file: %v", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, usagef("--smtp-ca-file /etc/ssl/certs/internal-ca.pem", "--smtp-ca-file: %s holds no PEM certificate", caFile)
		}
	}
	settings := &store.SettingsService{DB: a.DB}
	return &mail.Sender{RootCAs: roots, Config: func(ctx context.Context) (mail.Config, error) {
		es, password, err := settings.EmailConfig(ctx)
		if err != nil {
			return mail.Config{}, err
		}
		return mail.Config{EmailSettings: *es, Password: password}, nil
	}}, nil
}

// notifyAdmins e-mails every administrator about an incident.
func (o *opsEnv) notifyAdmins(ctx context.Context, w bitnobi.Warning) error {
	to, err := store.AdminEmails(ctx, o.a.DB)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return errors.New("no administrator to e-mail")
	}
	host, _ := os.Hostname()
	body := fmt.Sprintf("Bitnobi on %s needs attention.\n\n%s\n\nSince: %s\nKind: %s\n\nThe administration pages (GET /api/warnings) show the open warnings; the server's log has the details. You will not be e-mailed again about this incident until it has cleared.\n",
		host, w.Message, w.Since.Format(time.RFC1123), w.Kind)
	return o.sender.Send(ctx, mail.Message{To: to, Subject: "Bitnobi on " + host + ": " + strings.ReplaceAll(w.Kind, "_", " "), Body: body})
}

// sendTestEmail is the administrator's test e-mail.
func (o *opsEnv) sendTestEmail(ctx context.Context, to string) error {
	host, _ := os.Hostname()
	return o.sender.Send(ctx, mail.Message{To: []string{to}, Subject: "Bitnobi test e-mail",
		Body: "This is a test e-mail from Bitnobi on " + host + ". The e-mail settings work: alerts and password resets will reach their recipients.\n"})
}

// sendReset e-mails a password-reset token.
func (o *opsEnv) sendReset(ctx context.Context, to, username, token string, expires time.Time) error {
	link := token
	if o.publicURL != "" {
		link = strings.TrimRight(o.publicURL, "/") + "/reset-password?token=" + token
	}
	body := fmt.Sprintf("Someone asked to reset the password of the Bitnobi account %q.\n\nTo choose a new password, use this link (or this token with POST /api/auth/reset-password) before %s; it works once:\n\n%s\n\nIf you did not ask, ignore this e-mail: your password stays as it is.\n",
		username, expires.Format(time.RFC1123), link)
	return o.sender.Send(ctx, mail.Message{To: []string{to}, Subject: "Bitnobi: reset your password", Body: body})
}

// readyChecks are the checks of GET /api/ready.
func (o *opsEnv) readyChecks() map[string]httpapi.ReadyCheck {
	return map[string]httpapi.ReadyCheck{
		"database": func(ctx context.Context) error {
			var one int
			return o.a.DB.Read.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
		},
		"data_dir": func(ctx context.Context) error {
			f, err := os.CreateTemp(o.a.Dir.Path(), ".ready-*")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			_, err = f.Write([]byte("ok"))
			if err == nil {
				err = f.Sync()
			}
			return errors.Join(err, f.Close())
		},
	}
}

// lastGood returns the newest complete backup of the folder whose last
// verification, if any, passed.
func (o *opsEnv) lastGood() (string, time.Time, error) {
	folder := backup.Folder{Path: o.folder}
	infos, err := folder.Backups()
	if err != nil {
		return "", time.Time{}, err
	}
	for i := len(infos) - 1; i >= 0; i-- {
		in := infos[i]
		if in.Err != nil || in.Manifest == nil {
			continue
		}
		if v, err := folder.Verification(in.Name); err == nil && v != nil && !v.OK {
			continue
		}
		return in.Name, in.Manifest.CreatedAt, nil
	}
	return "", time.Time{}, nil
}

// childRunner runs the scheduled work as the CLI's commands, in child
// processes of this binary: the very code of "bitnobi backup", at the low
// priority the CLI gives itself (a goroutine cannot be reniced alone), in
// a session of its own so that the priority holds against the server's
// session too (see "Gentle on the live server" in the README).
type childRunner struct {
	o        *opsEnv
	exe      string
	env      []string // added to the server's environment
	lockWait time.Duration
	// mu makes the tasks one at a time even if the scheduler is misused.
	mu sync.Mutex
}

var _ schedule.Runner = (*childRunner)(nil)

// run runs "bitnobi args..." and returns its stdout. Its stderr goes to
// the log, line by line; the last lines are in the error.
func (r *childRunner) run(ctx context.Context, task string, extraEnv []string, args ...string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := r.command(ctx, extraEnv, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var tail []string
	done := make(chan struct{})
	log := r.o.logger.With("task", task, "command", "bitnobi "+args[0]+" "+args[1])
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			log.Warn("scheduled command says", "line", line)
			tail = append(tail, line)
			if len(tail) > 5 {
				tail = tail[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err == nil {
		return stdout.String(), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == ExitLocked {
		return "", fmt.Errorf("%w: waited %s (%s)", schedule.ErrBusy, r.lockWait, strings.Join(tail, "; "))
	}
	if len(tail) > 0 {
		return "", fmt.Errorf("bitnobi %s: %v: %s", strings.Join(args[:2], " "), err, strings.Join(tail, "; "))
	}
	return "", fmt.Errorf("bitnobi %s: %w", strings.Join(args[:2], " "), err)
}

// command returns the command "bitnobi args..." with the server's
// environment and extraEnv, in a session of its own.
func (r *childRunner) command(ctx context.Context, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.exe, args...)
	cmd.Env = append(append(os.Environ(), r.env...), extraEnv...)
	setChildAttrs(cmd)
	// SIGTERM first, so that an interrupted backup cleans up as it does
	// when an operator presses ^C; SIGKILL if it has not ended in 30s.
	cmd.Cancel = func() error { return terminate(cmd.Process) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

func (r *childRunner) common() []string {
	return []string{"--data-dir", r.o.a.Dir.Path(), "--backup-dir", r.o.folder}
}

// Backup runs "bitnobi backup --quiet --wait LOCKWAIT".
func (r *childRunner) Backup(ctx context.Context) (string, int64, error) {
	args := append([]string{"backup", "--quiet", "--wait", r.lockWait.String()}, r.common()...)
	out, err := r.run(ctx, "backup", nil, args...)
	if err != nil {
		return "", 0, err
	}
	path := strings.TrimSpace(out)
	if i := strings.LastIndexByte(path, '\n'); i >= 0 {
		path = path[i+1:]
	}
	var size int64
	if m, err := format.ReadManifest(path); err == nil {
		for _, f := range m.Files {
			size += f.Size
		}
	}
	return filepath.Base(path), size, nil
}

// retentionArgs are the --keep-* flags of a retention policy.
func retentionArgs(p bitnobi.Retention) []string {
	var args []string
	for _, rule := range []struct {
		flag string
		n    int
	}{{"last", p.KeepLast}, {"hourly", p.KeepHourly}, {"daily", p.KeepDaily}, {"weekly", p.KeepWeekly}, {"monthly", p.KeepMonthly}, {"yearly", p.KeepYearly}} {
		if rule.n > 0 {
			args = append(args, "--keep-"+rule.flag, strconv.Itoa(rule.n))
		}
	}
	if p.KeepWithin != "" {
		args = append(args, "--keep-within", p.KeepWithin)
	}
	return args
}

// Prune runs "bitnobi backups prune --keep-... --wait LOCKWAIT".
func (r *childRunner) Prune(ctx context.Context, p bitnobi.Retention) error {
	args := append([]string{"backups", "prune", "--wait", r.lockWait.String()}, r.common()...)
	_, err := r.run(ctx, "prune", nil, append(args, retentionArgs(p)...)...)
	return err
}

// Offsite runs "bitnobi backups push NAME" with the target in the
// environment, then applies the retention remotely, unless the server's
// own environment names a target (which then wins, as for the CLI).
func (r *childRunner) Offsite(ctx context.Context, name string, t bitnobi.OffsiteTarget) error {
	set, key, err := r.o.effective(ctx)
	if err != nil {
		return err
	}
	env := r.o.offsiteEnv(t, key)
	args := append([]string{"backups", "push", "--quiet", name}, r.common()...)
	if _, err := r.run(ctx, "offsite", env, args...); err != nil {
		return err
	}
	if set.Retention.Empty() {
		return nil
	}
	args = append([]string{"backups", "prune", "--remote"}, r.common()...)
	_, err = r.run(ctx, "offsite", env, append(args, retentionArgs(set.Retention)...)...)
	return err
}

// offsiteEnv is the BITNOBI_S3_* environment of a command that uses the
// target t with secret key key, unless the server's own environment names
// a target (which then wins, as for the CLI).
func (o *opsEnv) offsiteEnv(t bitnobi.OffsiteTarget, key string) []string {
	if o.envTarget != nil {
		return o.envTarget
	}
	env := []string{EnvS3Endpoint + "=" + t.Endpoint, EnvS3Bucket + "=" + t.Bucket, EnvS3Prefix + "=" + t.Prefix,
		EnvS3Region + "=" + t.Region, EnvS3AccessKeyID + "=" + t.AccessKey, EnvS3SSE + "=" + t.SSE,
		EnvS3Secret + "=" + key, EnvS3SecretFile + "="}
	if strings.HasPrefix(t.Endpoint, "http://") {
		env = append(env, EnvS3TLS+"=off")
	}
	return env
}

// Verify runs "bitnobi backups verify --all --quiet".
func (r *childRunner) Verify(ctx context.Context) error {
	_, err := r.run(ctx, "verify", nil, append([]string{"backups", "verify", "--all", "--quiet"}, r.common()...)...)
	return err
}

// VerifyDeep runs "bitnobi backups verify --deep --quiet NAME".
func (r *childRunner) VerifyDeep(ctx context.Context, name string) error {
	_, err := r.run(ctx, "deep_verify", nil, append([]string{"backups", "verify", "--deep", "--quiet", name}, r.common()...)...)
	return err
}

// nextRuns reports the scheduler's next runs for the API.
func (o *opsEnv) nextRuns() map[string]time.Time {
	out := map[string]time.Time{}
	for _, t := range []schedule.Task{schedule.TaskBackup, schedule.TaskVerify, schedule.TaskDeepVerify} {
		if n := o.sched.Next(t); !n.IsZero() {
			out[string(t)] = n
		}
	}
	return out
}

// openOps wires the scheduler, the mail sender and the checks for serve.
func (m *Main) openOps(a *app, dsn string, dir datadir.Dir, f *opsFlags, logger *slog.Logger) (*opsEnv, error) {
	over, err := f.overrides()
	if err != nil {
		return nil, err
	}
	folder, err := m.backupDir("", dir.Path())
	if err != nil {
		return nil, err
	}
	sender, err := newSender(a, *f.smtpCAFile)
	if err != nil {
		return nil, err
	}
	o := &opsEnv{a: a, dsn: dsn, folder: folder, logger: logger.With("subsystem", "schedule"), overrides: over,
		settings: &store.BackupSettingsService{DB: a.DB}, sender: sender, publicURL: *f.publicURL}
	if ep := m.Getenv(EnvS3Endpoint); ep != "" {
		// The environment's off-site target (as the CLI reads it) wins;
		// the commands the server runs inherit it.
		fileOver := o.overrides
		envTarget := bitnobi.OffsiteTarget{Endpoint: ep, Bucket: m.Getenv(EnvS3Bucket), Prefix: m.Getenv(EnvS3Prefix),
			Region: m.Getenv(EnvS3Region), AccessKey: m.Getenv(EnvS3AccessKeyID), SSE: m.Getenv(EnvS3SSE), SecretKeySet: true}
		o.overrides = func(set bitnobi.BackupSettings) (bitnobi.BackupSettings, []string) {
			set, fields := fileOver(set)
			set.Offsite = envTarget
			return set, append(fields, "offsite")
		}
		for _, k := range []string{EnvS3Endpoint, EnvS3Bucket, EnvS3Prefix, EnvS3Region, EnvS3AccessKeyID, EnvS3SecretFile, EnvS3Secret, EnvS3TLS, EnvS3SSE, EnvS3SSEKMSKeyID, EnvS3SSECKeyFile} {
			o.envTarget = append(o.envTarget, k+"="+m.Getenv(k))
		}
	}
	exe := m.childExe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this binary to run scheduled backups: %w", err)
		}
	}
	env := slices.Clone(m.childEnv)
	// What the server was configured with reaches the commands it runs
	// (in tests, Getenv is not the process's environment).
	for _, k := range []string{EnvKeyFile, EnvPriority} {
		if v := m.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	if dsn != "" {
		env = append(env, EnvDB+"="+dsn) // never a flag: it may hold a password
	}
	o.runner = &childRunner{o: o, exe: exe, env: env, lockWait: *f.lockWait}
	o.sched = &schedule.Scheduler{
		Settings: func(ctx context.Context) (bitnobi.BackupSettings, error) {
			set, _, err := o.effective(ctx)
			return set, err
		},
		Runner:   o.runner,
		LastGood: o.lastGood,
		Notify:   o.notifyAdmins,
		Logger:   o.logger,
		Now:      m.now,
	}
	return o, nil
}

// wire sets the server's routes for the schedule, warnings, mail, password
// resets, readiness and metrics.
func (o *opsEnv) wire(srv *httpapi.Server) {
	srv.BackupSettings = o.settings
	srv.BackupOverrides = o.overrides
	srv.BackupSettingsChanged = o.sched.Wake
	srv.NextRuns = o.nextRuns
	srv.Warnings = o.sched.Warnings
	srv.TestEmail = o.sendTestEmail
	srv.PasswordResets = &store.PasswordResetService{DB: o.a.DB, Mail: o.sendReset}
	srv.ReadyChecks = o.readyChecks()
	o.sched.Metrics = schedule.NewMetrics(srv.Registry)
}

// wireWeb gives the web pages what the API's backup routes use, and the
// backups page.
func (o *opsEnv) wireWeb(ws *web.Server, api *httpapi.Server) {
	ws.BackupSettings, ws.BackupOverrides = api.BackupSettings, api.BackupOverrides
	ws.BackupSettingsChanged, ws.Warnings = api.BackupSettingsChanged, api.Warnings
	ws.Backups = &pageBackups{o: o, now: time.Now}
}
