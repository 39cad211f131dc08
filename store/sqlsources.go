package store

import (
	"context"
	"fmt"

	"github.com/bitnobi/bitnobi"
)

var _ bitnobi.SQLSourceSettingsService = (*SettingsService)(nil)

// sqlSourcesOff is the error of a SQL element while SQL data sources are
// off: why, and how to turn them on again.
func sqlSourcesOff() error {
	return bitnobi.Errorf(bitnobi.EFORBIDDEN, "This installation is a copy restored with --as-copy: SQL data sources stay off so that it never queries the original's databases. An administrator turns them on again with PUT /api/settings/sql-sources {\"enabled\": true}.")
}

// readSQLSourceSettings returns whether SQL data sources are on as tx sees it.
func readSQLSourceSettings(ctx context.Context, tx *Tx) (*bitnobi.SQLSourceSettings, error) {
	off, err := tx.Meta(ctx, MetaSQLSourcesOff)
	if err != nil {
		return nil, err
	}
	return &bitnobi.SQLSourceSettings{Enabled: off == ""}, nil
}

// GetSQLSourceSettings returns whether SQL data sources are on
// (administrator only).
func (s *SettingsService) GetSQLSourceSettings(ctx context.Context) (*bitnobi.SQLSourceSettings, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	var ss *bitnobi.SQLSourceSettings
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		ss, err = readSQLSourceSettings(ctx, tx)
		return err
	})
	return ss, err
}

// UpdateSQLSourceSettings turns SQL data sources on or off (administrator
// only) and audits the change.
func (s *SettingsService) UpdateSQLSourceSettings(ctx context.Context, upd bitnobi.SQLSourceSettings) (*bitnobi.SQLSourceSettings, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		if err := tx.setSQLSourcesOff(ctx, !upd.Enabled); err != nil {
			return err
		}
		return tx.Audit(ctx, bitnobi.ActionSettingsUpdate, "settings", "sql-sources", map[string]any{"enabled": upd.Enabled})
	})
	if err != nil {
		return nil, err
	}
	return &bitnobi.SQLSourceSettings{Enabled: upd.Enabled}, nil
}

// setSQLSourcesOff records whether SQL data sources are off.
func (tx *Tx) setSQLSourcesOff(ctx context.Context, off bool) error {
	if off {
		if err := tx.SetMeta(ctx, MetaSQLSourcesOff, "1"); err != nil {
			return fmt.Errorf("turn SQL data sources off: %w", err)
		}
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM meta WHERE key = ?`, MetaSQLSourcesOff); err != nil {
		return fmt.Errorf("turn SQL data sources on: %w", err)
	}
	return nil
}
