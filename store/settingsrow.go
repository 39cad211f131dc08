package store

import (
	"context"
	"strings"
)

// The settings tables (email_settings, backup_settings, python_settings)
// each hold one row, id 1, absent until the settings are first saved, and
// are read and written the same way; these are the shared steps.

// readSettings reads a settings row with read in a read transaction and,
// when reveal is set and the row names a secret, unseals it: it returns
// the settings and the secret's plain value ("" when there is none or
// reveal is not set).
func readSettings[T any](ctx context.Context, db *DB, read func(context.Context, *Tx) (T, string, error), reveal bool) (T, string, error) {
	var v T
	var secretID string
	err := db.ReadTx(ctx, func(tx *Tx) error {
		var err error
		v, secretID, err = read(ctx, tx)
		return err
	})
	if err != nil || !reveal || secretID == "" {
		return v, "", err
	}
	plain, err := db.RevealSecret(ctx, secretID)
	return v, plain, err
}

// adminSettings is [readSettings] for the administrator only, without
// the secret: what a service's Get method returns.
func adminSettings[T any](ctx context.Context, db *DB, read func(context.Context, *Tx) (T, string, error)) (T, error) {
	var zero T
	if _, err := adminActor(ctx); err != nil {
		return zero, err
	}
	v, _, err := readSettings(ctx, db, read, false)
	if err != nil {
		return zero, err
	}
	return v, nil
}

// saveSettingsRow writes the row (id 1) of the settings table: columns
// (comma-separated) set to args, by an INSERT when none is saved yet
// (saved false), else by an UPDATE.
func saveSettingsRow(ctx context.Context, tx *Tx, table, columns string, saved bool, args ...any) error {
	var err error
	if saved {
		_, err = tx.Exec(ctx, `UPDATE `+table+` SET `+strings.ReplaceAll(columns, ",", " = ?,")+` = ? WHERE id = 1`, args...)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO `+table+` (id, `+columns+`) VALUES (1`+strings.Repeat(", ?", len(args))+`)`, args...)
	}
	return err
}
