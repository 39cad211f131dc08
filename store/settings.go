package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// SettingsService implements [bitnobi.SettingsService] on the database.
// The e-mail settings are the single row of email_settings (id 1); the
// SMTP password is sealed in the secrets table.
type SettingsService struct {
	DB *DB
}

var _ bitnobi.SettingsService = (*SettingsService)(nil)

// GetEmailSettings returns the e-mail settings (administrator only).
func (s *SettingsService) GetEmailSettings(ctx context.Context) (*bitnobi.EmailSettings, error) {
	return adminSettings(ctx, s.DB, readEmailSettings)
}

// UpdateEmailSettings replaces the e-mail settings (administrator only).
// A new password is sealed under a new secret ID and the old secret
// removed, so the row never points at a missing secret.
func (s *SettingsService) UpdateEmailSettings(ctx context.Context, upd bitnobi.EmailSettingsUpdate) (*bitnobi.EmailSettings, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	upd.From, upd.Host, upd.User = strings.TrimSpace(upd.From), strings.TrimSpace(upd.Host), strings.TrimSpace(upd.User)
	if upd.Security == "" {
		upd.Security = bitnobi.EmailSTARTTLS
	}
	if err := validEmailSettings(upd); err != nil {
		return nil, err
	}
	var es *bitnobi.EmailSettings
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		old, oldSecret, err := readEmailSettings(ctx, tx)
		if err != nil {
			return err
		}
		newSecret, pwChanged, err := tx.replaceSecret(ctx, oldSecret, upd.Password)
		if err != nil {
			return err
		}
		es = &bitnobi.EmailSettings{From: upd.From, Host: upd.Host, Port: upd.Port, User: upd.User, Security: upd.Security, Enabled: upd.Enabled, PasswordSet: newSecret != "", UpdatedAt: tx.Now()}
		if err := saveSettingsRow(ctx, tx, "email_settings", emailSettingsColumns, !old.UpdatedAt.IsZero(),
			es.From, es.Host, es.Port, es.User, es.Security, nullString(newSecret), boolInt(es.Enabled), ts(es.UpdatedAt)); err != nil {
			return fmt.Errorf("save e-mail settings: %w", err)
		}
		if pwChanged {
			if err := tx.DeleteSecret(ctx, oldSecret); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, bitnobi.ActionSettingsUpdate, "settings", "email", map[string]any{
			"from": es.From, "host": es.Host, "port": es.Port, "user": es.User, "security": es.Security, "enabled": es.Enabled,
			"password": passwordChange(pwChanged && newSecret != "", pwChanged && newSecret == "", "unchanged"),
		})
	})
	if err != nil {
		return nil, err
	}
	return es, nil
}

// EmailPassword returns the unsealed SMTP password, "" when none is set.
// It is for the code that sends mail; it checks no actor, and no API calls
// it.
func (s *SettingsService) EmailPassword(ctx context.Context) (string, error) {
	_, pw, err := s.EmailConfig(ctx)
	return pw, err
}

// EmailConfig returns the e-mail settings and the unsealed password, for
// the mail sender; it checks no actor, and no API calls it.
func (s *SettingsService) EmailConfig(ctx context.Context) (*bitnobi.EmailSettings, string, error) {
	return readSettings(ctx, s.DB, readEmailSettings, true)
}

// AdminEmails returns the e-mail addresses of every administrator, for
// the alerts; it checks no actor.
func AdminEmails(ctx context.Context, db *DB) ([]string, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT email FROM users WHERE is_admin <> 0 ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("find administrators: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		if e != "" {
			out = append(out, e)
		}
	}
	return out, rows.Err()
}

const emailSettingsColumns = "smtp_from, smtp_host, smtp_port, smtp_user, security, secret_id, enabled, updated_at"

// readEmailSettings returns the settings and the password's secret ID; zero
// settings, not enabled, when none are saved.
func readEmailSettings(ctx context.Context, tx *Tx) (*bitnobi.EmailSettings, string, error) {
	es := &bitnobi.EmailSettings{Security: bitnobi.EmailSTARTTLS}
	var secretID sql.NullString
	var enabled int64
	var updated string
	err := tx.QueryRow(ctx, `SELECT `+emailSettingsColumns+` FROM email_settings WHERE id = 1`).
		Scan(&es.From, &es.Host, &es.Port, &es.User, &es.Security, &secretID, &enabled, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return es, "", nil
	} else if err != nil {
		return nil, "", fmt.Errorf("read e-mail settings: %w", err)
	}
	es.Enabled = enabled != 0
	es.PasswordSet = secretID.String != ""
	if es.UpdatedAt, err = parseTS(updated); err != nil {
		return nil, "", err
	}
	return es, secretID.String, nil
}

func validEmailSettings(upd bitnobi.EmailSettingsUpdate) error {
	if upd.From != "" || upd.Enabled {
		if err := validEmail(upd.From); err != nil {
			return bitnobi.Invalidf("from", "From must be an address such as bitnobi@example.org.")
		}
	}
	if upd.Enabled && upd.Host == "" {
		return bitnobi.Invalidf("host", "Host must be set when e-mail is enabled.")
	}
	if len(upd.Host) > maxEmailLen || strings.ContainsAny(upd.Host, " \t\r\n/") {
		return bitnobi.Invalidf("host", "Host must be a host name or address.")
	}
	if upd.Port < 0 || upd.Port > 65535 || (upd.Enabled && upd.Port == 0) {
		return bitnobi.Invalidf("port", "Port must be 1 to 65535.")
	}
	switch upd.Security {
	case bitnobi.EmailSTARTTLS, bitnobi.EmailTLS, bitnobi.EmailPlain:
	default:
		return bitnobi.Invalidf("security", "Security must be %q, %q or %q.", bitnobi.EmailSTARTTLS, bitnobi.EmailTLS, bitnobi.EmailPlain)
	}
	if err := validText("user", upd.User, false, maxEmailLen); err != nil {
		return err
	}
	if upd.Password != nil {
		if err := validText("password", *upd.Password, false, maxPasswordLen); err != nil {
			return err
		}
	}
	return nil
}
