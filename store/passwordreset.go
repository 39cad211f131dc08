package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// PasswordResetService implements [bitnobi.PasswordResetService]: a
// random token, of which only the SHA-256 is stored (password_resets, not
// backed up), valid once and for TTL, sent by Mail.
type PasswordResetService struct {
	DB *DB
	// Password is the cost of the new password's hash (zero: defaults).
	Password PasswordParams
	// TTL is how long a token is valid (default 1 hour).
	TTL time.Duration
	// Mail sends the token to the account's address. Its error is only
	// logged: the answer must not say whether an account exists.
	Mail func(ctx context.Context, to, username, token string, expires time.Time) error
}

var _ bitnobi.PasswordResetService = (*PasswordResetService)(nil)

func (s *PasswordResetService) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return time.Hour
}

// RequestPasswordReset makes a token for every account with this address
// (usually one), replacing any earlier token of that account, and mails
// it. It returns nil whether or not an account has the address.
func (s *PasswordResetService) RequestPasswordReset(ctx context.Context, email string) error {
	email = strings.TrimSpace(email)
	if err := validEmail(email); err != nil {
		return err
	}
	type reset struct{ to, username, token string }
	var resets []reset
	var expires time.Time
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		now := tx.Now()
		expires = now.Add(s.ttl())
		if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE expires_at <= ?`, ts(now)); err != nil {
			return fmt.Errorf("remove expired reset tokens: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id, username, email FROM users WHERE lower(email) = lower(?) ORDER BY id`, email)
		if err != nil {
			return fmt.Errorf("find account by e-mail: %w", err)
		}
		type user struct{ id, name, email string }
		var users []user
		for rows.Next() {
			var u user
			if err := rows.Scan(&u.id, &u.name, &u.email); err != nil {
				rows.Close()
				return err
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, u := range users {
			var raw [32]byte
			if _, err := rand.Read(raw[:]); err != nil {
				return fmt.Errorf("make reset token: %w", err)
			}
			token := base64.RawURLEncoding.EncodeToString(raw[:])
			if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE user_id = ?`, u.id); err != nil {
				return fmt.Errorf("replace reset token: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
				tokenHash(token), u.id, ts(now), ts(expires)); err != nil {
				return fmt.Errorf("store reset token: %w", err)
			}
			resets = append(resets, reset{u.email, u.name, token})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range resets {
		if s.Mail == nil {
			s.DB.Logger.Warn("password reset requested, but no mail sender is configured", "user", r.username)
			continue
		}
		if err := s.Mail(ctx, r.to, r.username, r.token, expires); err != nil {
			s.DB.Logger.Error("send password-reset e-mail", "user", r.username, "err", err)
		}
	}
	return nil
}

// ResetPassword sets the password of the token's account, consumes the
// token, signs the account out everywhere, and records it in the audit log.
func (s *PasswordResetService) ResetPassword(ctx context.Context, token, password string) error {
	invalid := bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "This password-reset link is unknown, used or expired: ask for a new one.")
	if token == "" || len(token) > 200 {
		return invalid
	}
	if err := validPassword(password); err != nil {
		return err
	}
	params := s.Password
	if params == (PasswordParams{}) {
		params = DefaultPasswordParams
	}
	hash, err := hashPassword(password, params)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		var userID, username, expires string
		err := tx.QueryRow(ctx, `SELECT r.user_id, u.username, r.expires_at FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.token_hash = ?`,
			tokenHash(token)).Scan(&userID, &username, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return invalid
		} else if err != nil {
			return fmt.Errorf("find reset token: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM password_resets WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("consume reset token: %w", err)
		}
		exp, err := parseTS(expires)
		if err != nil {
			return err
		}
		if !tx.Now().Before(exp) {
			// Refused like an unknown token; the rollback keeps the row,
			// which the next request's sweep removes.
			return invalid
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, ts(tx.Now()), userID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("sign out: %w", err)
		}
		a := *bitnobi.ActorFromContext(ctx)
		a.UserID, a.Username = userID, username
		return tx.Audit(bitnobi.NewContextWithActor(ctx, &a), bitnobi.ActionPasswordReset, "user", userID, map[string]any{"fields": []string{"password"}})
	})
}
