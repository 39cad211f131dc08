package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/secret"
)

// PutSecret seals value under the master key and stores it within tx: a
// new secret when id is "", else in place of the secret id (which records
// keep referring to). It returns the secret's ID. The ID is the seal's
// additional data, so a sealed value copied into another row does not open.
func (tx *Tx) PutSecret(ctx context.Context, id, value string) (string, error) {
	isNew := id == ""
	if isNew {
		id = bitnobi.NewID()
	}
	sealed, err := secret.Seal(tx.db.Key, []byte(value), []byte(id))
	if err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	if !isNew {
		res, err := tx.Exec(ctx, `UPDATE secrets SET sealed = ?, key_fingerprint = ?, created_at = ? WHERE id = ?`,
			sealed, tx.db.Key.Fingerprint(), ts(tx.Now()), id)
		if err != nil {
			return "", fmt.Errorf("replace secret: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", fmt.Errorf("replace secret: %w", err)
		} else if n == 1 {
			return id, nil
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO secrets (id, sealed, key_fingerprint, created_at) VALUES (?, ?, ?, ?)`,
		id, sealed, tx.db.Key.Fingerprint(), ts(tx.Now()))
	if err != nil {
		return "", fmt.Errorf("store secret: %w", err)
	}
	return id, nil
}

// replaceSecret applies a settings update's secret field to the secret
// oldID: nil keeps it, "" removes it, anything else is sealed under a new
// ID (so the row never points at a missing secret). It returns the ID to
// store and whether it changed; the caller deletes oldID after saving the
// row when it did.
func (tx *Tx) replaceSecret(ctx context.Context, oldID string, value *string) (newID string, changed bool, err error) {
	if value == nil || (*value == "" && oldID == "") {
		return oldID, false, nil
	}
	if *value == "" {
		return "", true, nil
	}
	newID, err = tx.PutSecret(ctx, "", *value)
	return newID, err == nil, err
}

// DeleteSecret removes a secret within tx. Deleting "" does nothing.
func (tx *Tx) DeleteSecret(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM secrets WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}

// RevealSecret opens the secret at id. It is for the code that uses a
// secret (sending mail, connecting to a remote server or database) and for
// tests; no API returns a secret.
func (db *DB) RevealSecret(ctx context.Context, id string) (string, error) {
	var sealed string
	err := db.Read.QueryRowContext(ctx, db.Dialect.Rebind(`SELECT sealed FROM secrets WHERE id = ?`), id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", bitnobi.Errorf(bitnobi.ENOTFOUND, "Secret not found.")
	} else if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	plain, err := secret.Open(db.Key, sealed, []byte(id))
	if err != nil {
		return "", fmt.Errorf("open secret %s: %w", id, err)
	}
	return string(plain), nil
}

// SecretKeyFingerprints returns the fingerprints of the master keys the
// stored secrets were sealed with. A restore compares them with the key it
// has, and refuses when the secrets could not be opened.
func SecretKeyFingerprints(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT key_fingerprint FROM secrets ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("read secret key fingerprints: %w", err)
	}
	defer rows.Close()
	var fps []string
	for rows.Next() {
		var fp string
		if err := rows.Scan(&fp); err != nil {
			return nil, err
		}
		fps = append(fps, fp)
	}
	return fps, rows.Err()
}
