package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/schedule"
)

// BackupSettingsService implements [bitnobi.BackupSettingsService] on the
// database: the single row of backup_settings (id 1), absent until first
// saved; the off-site secret key is sealed in the secrets table.
type BackupSettingsService struct {
	DB *DB
}

var _ bitnobi.BackupSettingsService = (*BackupSettingsService)(nil)

// GetBackupSettings returns the stored settings, or the defaults
// (administrator only).
func (s *BackupSettingsService) GetBackupSettings(ctx context.Context) (*bitnobi.BackupSettings, error) {
	return adminSettings(ctx, s.DB, readBackupSettings)
}

// Stored returns the stored settings (the defaults before they are first
// saved) and the off-site secret key, unsealed. It checks no actor: it is
// for the scheduler, and no API calls it.
func (s *BackupSettingsService) Stored(ctx context.Context) (*bitnobi.BackupSettings, string, error) {
	return readSettings(ctx, s.DB, readBackupSettings, true)
}

// UpdateBackupSettings replaces the settings (administrator only).
func (s *BackupSettingsService) UpdateBackupSettings(ctx context.Context, upd bitnobi.BackupSettingsUpdate) (*bitnobi.BackupSettings, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	if err := validBackupSettings(&upd); err != nil {
		return nil, err
	}
	var set *bitnobi.BackupSettings
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		old, oldSecret, err := readBackupSettings(ctx, tx)
		if err != nil {
			return err
		}
		newSecret, keyChanged, err := tx.replaceSecret(ctx, oldSecret, upd.OffsiteSecretKey)
		if err != nil {
			return err
		}
		o := upd.Offsite
		o.SecretKeySet = newSecret != ""
		r := upd.Retention
		set = &bitnobi.BackupSettings{Enabled: upd.Enabled, Schedule: upd.Schedule, Retention: r,
			VerifySchedule: upd.VerifySchedule, DeepVerifySchedule: upd.DeepVerifySchedule,
			AlertAfterHours: upd.AlertAfterHours, Offsite: o, UpdatedAt: tx.Now()}
		args := []any{boolInt(set.Enabled), set.Schedule, r.KeepLast, r.KeepHourly, r.KeepDaily, r.KeepWeekly, r.KeepMonthly, r.KeepYearly, r.KeepWithin,
			set.VerifySchedule, set.DeepVerifySchedule, set.AlertAfterHours,
			o.Endpoint, o.Bucket, o.Prefix, o.Region, o.AccessKey, nullString(newSecret), o.SSE, ts(set.UpdatedAt)}
		if err := saveSettingsRow(ctx, tx, "backup_settings", backupSettingsColumns, !old.UpdatedAt.IsZero(), args...); err != nil {
			return fmt.Errorf("save backup settings: %w", err)
		}
		if keyChanged {
			if err := tx.DeleteSecret(ctx, oldSecret); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, bitnobi.ActionSettingsUpdate, "settings", "backup", map[string]any{
			"enabled": set.Enabled, "schedule": set.Schedule, "retention": set.Retention,
			"verify_schedule": set.VerifySchedule, "deep_verify_schedule": set.DeepVerifySchedule,
			"alert_after_hours":  set.AlertAfterHours,
			"offsite":            map[string]any{"endpoint": o.Endpoint, "bucket": o.Bucket, "prefix": o.Prefix, "region": o.Region, "access_key": o.AccessKey, "sse": o.SSE},
			"offsite_secret_key": passwordChange(keyChanged && newSecret != "", keyChanged && newSecret == "", "unchanged"),
		})
	})
	if err != nil {
		return nil, err
	}
	return set, nil
}

const backupSettingsColumns = "enabled, schedule, keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, " +
	"verify_schedule, deep_verify_schedule, alert_after_hours, " +
	"offsite_endpoint, offsite_bucket, offsite_prefix, offsite_region, offsite_access_key, offsite_secret_id, offsite_sse, updated_at"

// readBackupSettings returns the settings and the off-site secret's ID:
// the defaults, with a zero UpdatedAt, when none are saved.
func readBackupSettings(ctx context.Context, tx *Tx) (*bitnobi.BackupSettings, string, error) {
	set := &bitnobi.BackupSettings{}
	r, o := &set.Retention, &set.Offsite
	var enabled int64
	var secretID sql.NullString
	var updated string
	err := tx.QueryRow(ctx, `SELECT `+backupSettingsColumns+` FROM backup_settings WHERE id = 1`).Scan(
		&enabled, &set.Schedule, &r.KeepLast, &r.KeepHourly, &r.KeepDaily, &r.KeepWeekly, &r.KeepMonthly, &r.KeepYearly, &r.KeepWithin,
		&set.VerifySchedule, &set.DeepVerifySchedule, &set.AlertAfterHours,
		&o.Endpoint, &o.Bucket, &o.Prefix, &o.Region, &o.AccessKey, &secretID, &o.SSE, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		d := bitnobi.DefaultBackupSettings()
		return &d, "", nil
	} else if err != nil {
		return nil, "", fmt.Errorf("read backup settings: %w", err)
	}
	set.Enabled = enabled != 0
	o.SecretKeySet = secretID.String != ""
	if set.UpdatedAt, err = parseTS(updated); err != nil {
		return nil, "", err
	}
	return set, secretID.String, nil
}

// validBackupSettings checks an update, trimming its text fields.
func validBackupSettings(upd *bitnobi.BackupSettingsUpdate) error {
	upd.Schedule = strings.TrimSpace(upd.Schedule)
	upd.VerifySchedule = strings.TrimSpace(upd.VerifySchedule)
	upd.DeepVerifySchedule = strings.TrimSpace(upd.DeepVerifySchedule)
	if upd.Enabled && upd.Schedule == "" {
		return bitnobi.Invalidf("schedule", `Schedule must be set when scheduled backups are enabled, e.g. "daily at 02:15" or "15 2 * * *".`)
	}
	for field, text := range map[string]string{"schedule": upd.Schedule, "verify_schedule": upd.VerifySchedule, "deep_verify_schedule": upd.DeepVerifySchedule} {
		if text == "" {
			continue
		}
		if _, err := schedule.Parse(text); err != nil || len(text) > 100 {
			return bitnobi.Invalidf(field, `%s %q is not a schedule: write "daily at 02:15", "hourly at :30", "weekly on sunday at 05:00", "monthly on day 1 at 05:30" (all UTC) or a five-field cron expression such as "15 2 * * *".`, fieldTitle(field), text)
		}
	}
	r := upd.Retention
	for field, n := range map[string]int{"keep_last": r.KeepLast, "keep_hourly": r.KeepHourly, "keep_daily": r.KeepDaily, "keep_weekly": r.KeepWeekly, "keep_monthly": r.KeepMonthly, "keep_yearly": r.KeepYearly} {
		if n < 0 || n > 100000 {
			return bitnobi.Invalidf("retention."+field, "%s must be 0 (no such rule) to 100000.", fieldTitle(field))
		}
	}
	if r.KeepWithin != "" {
		if err := schedule.ValidWithin(r.KeepWithin); err != nil {
			return bitnobi.Invalidf("retention.keep_within", "Keep within must be a duration such as 14d, 2m (months) or 1y6m, or empty.")
		}
	}
	if upd.AlertAfterHours < 0 || upd.AlertAfterHours > 24*366 {
		return bitnobi.Invalidf("alert_after_hours", "Alert after hours must be 0 (never) to 8784.")
	}
	o := &upd.Offsite
	o.Endpoint, o.Bucket, o.Prefix, o.Region, o.AccessKey = strings.TrimSpace(o.Endpoint), strings.TrimSpace(o.Bucket), strings.Trim(strings.TrimSpace(o.Prefix), "/"), strings.TrimSpace(o.Region), strings.TrimSpace(o.AccessKey)
	if (o.Endpoint == "") != (o.Bucket == "") {
		return bitnobi.Invalidf("offsite.bucket", "Give both the off-site endpoint and bucket, or neither.")
	}
	for field, v := range map[string]string{"offsite.endpoint": o.Endpoint, "offsite.bucket": o.Bucket, "offsite.prefix": o.Prefix, "offsite.region": o.Region, "offsite.access_key": o.AccessKey} {
		if len(v) > 1000 || strings.ContainsAny(v, " \t\r\n") {
			return bitnobi.Invalidf(field, "%s must be at most 1000 characters, without spaces.", fieldTitle(strings.TrimPrefix(field, "offsite.")))
		}
	}
	switch o.SSE {
	case "", "s3", "kms":
	default:
		return bitnobi.Invalidf("offsite.sse", `SSE must be "" (none), "s3" or "kms".`)
	}
	if upd.OffsiteSecretKey != nil {
		if err := validText("offsite_secret_key", *upd.OffsiteSecretKey, false, maxPasswordLen); err != nil {
			return err
		}
	}
	return nil
}
