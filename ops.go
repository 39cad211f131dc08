package bitnobi

import (
	"context"
	"time"
)

// BackupSettings are the backups the server runs itself: when it backs up,
// which backups it keeps, when it verifies them, when it warns, and where
// it copies them off the machine. They are stored in the database (so a
// backup carries them); flags and environment variables of "bitnobi serve"
// override them field by field.
type BackupSettings struct {
	// Enabled turns the whole schedule on or off.
	Enabled bool `json:"enabled"`
	// Schedule is when to back up: "daily at 02:15", "hourly at :30",
	// "weekly on sunday at 03:00" or a five-field cron expression, in UTC.
	Schedule string `json:"schedule"`
	// Retention is applied after every scheduled backup ("backups prune").
	// A policy with no rule keeps every backup.
	Retention Retention `json:"retention"`
	// VerifySchedule is when every backup is re-read ("backups verify
	// --all"); "" never.
	VerifySchedule string `json:"verify_schedule"`
	// DeepVerifySchedule is when the newest backup is restored trially
	// ("backups verify --deep"); "" never.
	DeepVerifySchedule string `json:"deep_verify_schedule"`
	// AlertAfterHours warns the administrators when no good backup is
	// younger than this; 0 never.
	AlertAfterHours int `json:"alert_after_hours"`
	// Offsite is the S3-compatible bucket backups are copied to.
	Offsite OffsiteTarget `json:"offsite"`
	// UpdatedAt is zero while the defaults apply (never saved).
	UpdatedAt time.Time `json:"updated_at"`
}

// Retention is a retention policy, with the rules of "bitnobi backups
// prune": the newest backup of each of the N newest hours, days... that
// have one, plus every backup within KeepWithin (e.g. "14d") of the newest.
type Retention struct {
	KeepLast    int    `json:"keep_last"`
	KeepHourly  int    `json:"keep_hourly"`
	KeepDaily   int    `json:"keep_daily"`
	KeepWeekly  int    `json:"keep_weekly"`
	KeepMonthly int    `json:"keep_monthly"`
	KeepYearly  int    `json:"keep_yearly"`
	KeepWithin  string `json:"keep_within"`
}

// Empty reports whether the policy has no rule (and so keeps everything).
func (r Retention) Empty() bool {
	return r == Retention{}
}

// OffsiteTarget is an S3-compatible bucket. The secret key is sealed at rest
// and never returned; SecretKeySet says whether one is stored.
type OffsiteTarget struct {
	Endpoint     string `json:"endpoint"`
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix"`
	Region       string `json:"region"`
	AccessKey    string `json:"access_key"`
	SecretKeySet bool   `json:"secret_key_set"`
	// SSE is the server-side encryption to ask for: "" (none), "s3"
	// (SSE-S3) or "kms" (SSE-KMS with the bucket's default key).
	SSE string `json:"sse"`
}

// Configured reports whether the target names a bucket to copy to.
func (o OffsiteTarget) Configured() bool { return o.Endpoint != "" && o.Bucket != "" }

// DefaultBackupSettings are the settings of a fresh installation: a backup
// every night at 02:15 UTC, kept as the README's cron example keeps them,
// every backup re-read on Sundays, the newest restored trially on the
// first of each month, and a warning when no good backup is younger than
// 26 hours (a day and some slack). On by default: an operator who
// installs a server expects it to protect its own state, as Discourse
// does, and the README says how to turn it off.
func DefaultBackupSettings() BackupSettings {
	return BackupSettings{
		Enabled:            true,
		Schedule:           "daily at 02:15",
		Retention:          Retention{KeepDaily: 7, KeepWeekly: 5, KeepMonthly: 12, KeepYearly: 3},
		VerifySchedule:     "weekly on sunday at 05:00",
		DeepVerifySchedule: "monthly on day 1 at 05:30",
		AlertAfterHours:    26,
	}
}

// BackupSettingsUpdate replaces the backup settings. Every field but
// OffsiteSecretKey is replaced; a nil OffsiteSecretKey keeps the stored
// one and "" removes it.
type BackupSettingsUpdate struct {
	Enabled            bool          `json:"enabled"`
	Schedule           string        `json:"schedule"`
	Retention          Retention     `json:"retention"`
	VerifySchedule     string        `json:"verify_schedule"`
	DeepVerifySchedule string        `json:"deep_verify_schedule"`
	AlertAfterHours    int           `json:"alert_after_hours"`
	Offsite            OffsiteTarget `json:"offsite"`
	OffsiteSecretKey   *string       `json:"offsite_secret_key"`
}

// BackupSettingsService stores the backup settings. Every method is for the
// administrator only; the actor comes from the context.
type BackupSettingsService interface {
	// GetBackupSettings returns the stored settings, or
	// [DefaultBackupSettings] before they are first saved.
	// Errors: EFORBIDDEN.
	GetBackupSettings(ctx context.Context) (*BackupSettings, error)
	// UpdateBackupSettings replaces the settings, checking every schedule
	// and the retention rules, and records the change in the audit log.
	// Errors: EINVALID, EFORBIDDEN.
	UpdateBackupSettings(ctx context.Context, upd BackupSettingsUpdate) (*BackupSettings, error)
}

// Warning is a condition an administrator should act on, such as a failed
// scheduled backup; the administration pages show the current ones.
type Warning struct {
	// Kind names the incident: "backup_failed", "offsite_failed",
	// "verify_failed" or "no_recent_backup".
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
	// Mailed says whether the administrators were sent an e-mail.
	Mailed bool `json:"mailed"`
}

// PasswordResetService resets forgotten passwords through a single-use
// token sent by e-mail.
type PasswordResetService interface {
	// RequestPasswordReset e-mails a reset token to the account with this
	// address, if there is one. It answers the same whether or not there
	// is, so that it reveals no account. Errors: EINVALID (not an address).
	RequestPasswordReset(ctx context.Context, email string) error
	// ResetPassword sets a new password with a token, which it consumes,
	// and signs the user out everywhere. Errors: EINVALID (a weak
	// password), EUNAUTHORIZED (an unknown, used or expired token).
	ResetPassword(ctx context.Context, token, password string) error
}
