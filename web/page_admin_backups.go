package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// BackupService is what the backups page asks of the server's backup
// folder. cmd/bitnobi implements it by running the CLI's own commands
// ("bitnobi backups list --json", "backup", "backups verify"...) as child
// processes, as the scheduled backups do. Every method is for the
// administrator only (EFORBIDDEN otherwise); the actor comes from the
// context.
type BackupService interface {
	// ListBackups lists the backup folder, or the off-site bucket when
	// remote, newest first. Errors: EFORBIDDEN, EINTERNAL.
	ListBackups(ctx context.Context, remote bool) ([]BackupEntry, error)
	// StartBackup starts a backup in the background and returns at once;
	// [BackupService.BackupJob] follows it. Errors: ECONFLICT (one is
	// running already), EFORBIDDEN.
	StartBackup(ctx context.Context) error
	// BackupJob returns the backup started last from the page (zero
	// before any).
	BackupJob(ctx context.Context) (BackupJob, error)
	// VerifyBackup re-reads backup name against its manifest and records
	// the outcome. Errors: EINVALID (it did not verify: the message says
	// why), ENOTFOUND, ECONFLICT (the folder is busy), EFORBIDDEN.
	VerifyBackup(ctx context.Context, name string) error
	// ExportBackup writes backup name to w as the export archive (tar,
	// zstd), streamed, and records the download in the audit log first.
	// Errors: ENOTFOUND, EFORBIDDEN; after the first byte, a failure is
	// an error that the caller can only log.
	ExportBackup(ctx context.Context, name string, w io.Writer) error
	// DeleteBackup removes backup name from the folder and records it in
	// the audit log. Errors: ENOTFOUND, ECONFLICT, EFORBIDDEN.
	DeleteBackup(ctx context.Context, name string) error
}

// BackupEntry is one backup as the backups page lists it.
type BackupEntry struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // backup, damaged, incomplete, foreign
	URL       string    `json:"url"`  // remote backups: the s3:// address restore takes
	CreatedAt time.Time `json:"created_at"`
	Size      int64     `json:"size"`
	Unique    int64     `json:"unique"`
	Encrypted bool      `json:"encrypted"`
	// Verified is the last "backups verify", nil if never.
	Verified *BackupVerification `json:"last_verified"`
	Error    string              `json:"error"`
}

// BackupVerification is the outcome of a verification.
type BackupVerification struct {
	At   time.Time `json:"at"`
	OK   bool      `json:"ok"`
	Deep bool      `json:"deep"`
}

// BackupJob is a backup started from the page: running, or how it ended.
type BackupJob struct {
	Running  bool      `json:"running"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Progress is the command's last progress line ("blobs 3/10 ...").
	Progress string `json:"progress"`
	// Name is the new backup's name, once it succeeded.
	Name string `json:"name"`
	// Error says why it failed.
	Error string `json:"error"`
}

// backupsView is the data of the backups page. It never holds the
// off-site secret key: only whether one is set.
type backupsView struct {
	Local, Remote  []BackupEntry
	RemoteError    string
	RemoteSet      bool
	Job            BackupJob
	Warnings       []bitnobi.Warning
	SecretKeySet   bool
	Overridden     []string
	Updated        time.Time
	Restore        string // the name whose restore command to show
	RestoreLocal   bool
	RestoreCommand string
}

// backupFields are the settings form's fields; error fields of the
// service ("retention.keep_daily") map to them by replacing dots.
var backupFields = []string{"enabled", "schedule", "verify_schedule", "deep_verify_schedule", "alert_after_hours",
	"retention_keep_last", "retention_keep_hourly", "retention_keep_daily", "retention_keep_weekly", "retention_keep_monthly", "retention_keep_yearly", "retention_keep_within",
	"offsite_endpoint", "offsite_bucket", "offsite_prefix", "offsite_region", "offsite_access_key", "offsite_secret_key", "offsite_sse"}

// backupName is the shape of a backup's name; anything else is refused
// before it reaches a command line.
var backupName = regexp.MustCompile(`^backup-[0-9]{8}_[0-9]{4}(-[0-9]+)?$`)

func (s *Server) registerBackupPages() {
	s.handle("GET /admin/backups", Admin, s.backupsPage)
	s.handle("POST /admin/backups", Admin, s.updateBackupSettings)
	s.handle("POST /admin/backups/run", Admin, s.runBackup)
	s.handle("GET /admin/backups/job", Admin, s.backupJob)
	s.handle("POST /admin/backups/{name}/verify", Admin, s.verifyBackup)
	s.handle("GET /admin/backups/{name}/download", Admin, s.downloadBackup)
	s.handle("POST /admin/backups/{name}/delete", Admin, s.deleteBackup)
}

func pathBackup(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !backupName.MatchString(name) {
		return "", bitnobi.Errorf(bitnobi.ENOTFOUND, "There is no backup called %q: the backups page lists them.", name)
	}
	return name, nil
}

func (s *Server) backupsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	set, err := s.BackupSettings.GetBackupSettings(r.Context())
	if err != nil {
		return err
	}
	settingsForm(v.Form, set)
	return s.renderBackups(w, r, v, http.StatusOK, set)
}

// settingsForm fills f with the stored settings.
func settingsForm(f *form, set *bitnobi.BackupSettings) {
	itoa := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	f.Values = map[string]string{
		"schedule": set.Schedule, "verify_schedule": set.VerifySchedule, "deep_verify_schedule": set.DeepVerifySchedule,
		"alert_after_hours":   strconv.Itoa(set.AlertAfterHours),
		"retention_keep_last": itoa(set.Retention.KeepLast), "retention_keep_hourly": itoa(set.Retention.KeepHourly),
		"retention_keep_daily": itoa(set.Retention.KeepDaily), "retention_keep_weekly": itoa(set.Retention.KeepWeekly),
		"retention_keep_monthly": itoa(set.Retention.KeepMonthly), "retention_keep_yearly": itoa(set.Retention.KeepYearly),
		"retention_keep_within": set.Retention.KeepWithin,
		"offsite_endpoint":      set.Offsite.Endpoint, "offsite_bucket": set.Offsite.Bucket, "offsite_prefix": set.Offsite.Prefix,
		"offsite_region": set.Offsite.Region, "offsite_access_key": set.Offsite.AccessKey, "offsite_sse": set.Offsite.SSE,
	}
	if set.Enabled {
		f.Values["enabled"] = "on"
	}
}

// renderBackups renders the page with the folder's and the bucket's
// backups, the job, the warnings and v.Form.
func (s *Server) renderBackups(w http.ResponseWriter, r *http.Request, v *view, status int, set *bitnobi.BackupSettings) error {
	v.Title, v.Section = "Backups", "admin"
	bv := backupsView{SecretKeySet: set.Offsite.SecretKeySet, Updated: set.UpdatedAt}
	eff := *set
	if s.BackupOverrides != nil {
		eff, bv.Overridden = s.BackupOverrides(*set)
	}
	var err error
	if bv.Local, err = s.Backups.ListBackups(r.Context(), false); err != nil {
		return err
	}
	if bv.RemoteSet = eff.Offsite.Configured(); bv.RemoteSet {
		// The bucket may be down: the page still shows the folder.
		if bv.Remote, err = s.Backups.ListBackups(r.Context(), true); err != nil {
			bv.RemoteError = bitnobi.ErrorMessage(err)
		}
	}
	if bv.Job, err = s.Backups.BackupJob(r.Context()); err != nil {
		return err
	}
	if s.Warnings != nil {
		bv.Warnings = s.Warnings()
	}
	if name := r.URL.Query().Get("restore"); name != "" {
		bv.Restore = name
		for _, e := range bv.Local {
			if e.Name == name {
				bv.RestoreLocal = true
				bv.RestoreCommand = fmt.Sprintf("bitnobi restore %s --data-dir NEW-DATA-DIR", name)
			}
		}
		for _, e := range bv.Remote {
			if e.Name == name && e.URL != "" && !bv.RestoreLocal {
				bv.RestoreCommand = fmt.Sprintf("bitnobi restore %s --data-dir NEW-DATA-DIR", e.URL)
			}
		}
	}
	s.render(w, r, status, "backups", v, bv)
	return nil
}

func (s *Server) updateBackupSettings(w http.ResponseWriter, r *http.Request, v *view) error {
	set, err := s.BackupSettings.GetBackupSettings(r.Context())
	if err != nil {
		return err
	}
	v.Form.fill(r, backupFields...)
	f := v.Form
	num := func(name string) int {
		if err != nil {
			return 0
		}
		t := strings.TrimSpace(f.Get(name))
		if t == "" {
			return 0
		}
		n, e := strconv.Atoi(t)
		if e != nil {
			err = bitnobi.Invalidf(strings.Replace(name, "_", ".", 1), "Write a whole number, or leave it empty for none.")
			if !strings.HasPrefix(name, "retention_") {
				err = bitnobi.Invalidf(name, "Write a whole number of hours (0: never).")
			}
		}
		return n
	}
	upd := bitnobi.BackupSettingsUpdate{
		Enabled:            f.Get("enabled") == "on",
		Schedule:           strings.TrimSpace(f.Get("schedule")),
		VerifySchedule:     strings.TrimSpace(f.Get("verify_schedule")),
		DeepVerifySchedule: strings.TrimSpace(f.Get("deep_verify_schedule")),
		AlertAfterHours:    num("alert_after_hours"),
		Retention: bitnobi.Retention{KeepLast: num("retention_keep_last"), KeepHourly: num("retention_keep_hourly"),
			KeepDaily: num("retention_keep_daily"), KeepWeekly: num("retention_keep_weekly"), KeepMonthly: num("retention_keep_monthly"),
			KeepYearly: num("retention_keep_yearly"), KeepWithin: strings.TrimSpace(f.Get("retention_keep_within"))},
		Offsite: bitnobi.OffsiteTarget{Endpoint: strings.TrimSpace(f.Get("offsite_endpoint")), Bucket: strings.TrimSpace(f.Get("offsite_bucket")),
			Prefix: strings.TrimSpace(f.Get("offsite_prefix")), Region: strings.TrimSpace(f.Get("offsite_region")),
			AccessKey: strings.TrimSpace(f.Get("offsite_access_key")), SSE: strings.TrimSpace(f.Get("offsite_sse"))},
	}
	if k := r.PostFormValue("offsite_secret_key"); k != "" {
		upd.OffsiteSecretKey = &k
	} else if r.PostFormValue("clear_secret_key") == "on" {
		empty := ""
		upd.OffsiteSecretKey = &empty
	}
	delete(f.Values, "offsite_secret_key") // never rendered back
	if err == nil {
		_, err = s.BackupSettings.UpdateBackupSettings(r.Context(), upd)
	}
	if err != nil {
		if fld := fieldOf(err); fld != "" {
			// The service names fields as the JSON does: retention.keep_daily.
			err = bitnobi.Invalidf(strings.ReplaceAll(fld, ".", "_"), "%s", bitnobi.ErrorMessage(err))
		}
		return s.renderBackups(w, r, v, f.fail(err, backupFields...), set)
	}
	if s.BackupSettingsChanged != nil {
		s.BackupSettingsChanged()
	}
	return s.redirect(w, r, "/admin/backups", "The backup settings are saved.")
}

func (s *Server) runBackup(w http.ResponseWriter, r *http.Request, v *view) error {
	if err := s.Backups.StartBackup(r.Context()); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/backups#job", "")
}

// backupJob answers the page's script, which polls it while a backup
// runs (a JSON BackupJob).
func (s *Server) backupJob(w http.ResponseWriter, r *http.Request, v *view) error {
	job, err := s.Backups.BackupJob(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(job)
}

func (s *Server) verifyBackup(w http.ResponseWriter, r *http.Request, v *view) error {
	name, err := pathBackup(r)
	if err != nil {
		return err
	}
	err = s.Backups.VerifyBackup(r.Context(), name)
	if bitnobi.ErrorCode(err) == bitnobi.EINVALID {
		return s.redirect(w, r, "/admin/backups", fmt.Sprintf("%s did NOT verify: %s", name, bitnobi.ErrorMessage(err)))
	}
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/backups", name+" verified: every file matches its manifest.")
}

func (s *Server) downloadBackup(w http.ResponseWriter, r *http.Request, v *view) error {
	name, err := pathBackup(r)
	if err != nil {
		return err
	}
	sw := &startWriter{w: w, start: func() {
		h := w.Header()
		h.Set("Content-Type", "application/zstd")
		h.Set("Content-Disposition", `attachment; filename="`+name+`.tar.zst"`)
	}}
	err = s.Backups.ExportBackup(r.Context(), name, sw)
	if err != nil && sw.started {
		// The archive is cut short: the browser sees a failed download,
		// since the connection ends without the rest.
		s.Logger.Error("download backup", "name", name, "err", err)
		panic(http.ErrAbortHandler)
	}
	return err
}

// startWriter sets the headers just before the first byte, so that an
// error before any byte is still an error page.
type startWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(p)
}

func (s *Server) deleteBackup(w http.ResponseWriter, r *http.Request, v *view) error {
	name, err := pathBackup(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != name {
		return bitnobi.Errorf(bitnobi.EINVALID, "To delete %s, type its name in the box beside the Delete button.", name)
	}
	if err := s.Backups.DeleteBackup(r.Context(), name); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/backups", name+" is deleted.")
}
