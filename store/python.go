package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bitnobi/bitnobi"
)

var _ bitnobi.PythonSettingsService = (*SettingsService)(nil)

// GetPythonSettings returns the Python settings, defaults filled in
// (administrator only).
func (s *SettingsService) GetPythonSettings(ctx context.Context) (*bitnobi.PythonSettings, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	var ps *bitnobi.PythonSettings
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		ps, err = readPythonSettings(ctx, tx)
		return err
	})
	return ps, err
}

// UpdatePythonSettings replaces the Python settings (administrator only)
// and audits the change.
func (s *SettingsService) UpdatePythonSettings(ctx context.Context, upd bitnobi.PythonSettings) (*bitnobi.PythonSettings, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	var ps *bitnobi.PythonSettings
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		old, err := readPythonSettings(ctx, tx)
		if err != nil {
			return err
		}
		upd.UpdatedAt = tx.Now()
		args := []any{boolInt(upd.Enabled), upd.CPUSeconds, upd.MemoryMB, upd.OutputMB, upd.WallSeconds, ts(upd.UpdatedAt)}
		if err := saveSettingsRow(ctx, tx, "python_settings", pythonSettingsColumns, !old.UpdatedAt.IsZero(), args...); err != nil {
			return fmt.Errorf("save python settings: %w", err)
		}
		ps = &bitnobi.PythonSettings{}
		*ps = upd.WithDefaults()
		return tx.Audit(ctx, bitnobi.ActionSettingsUpdate, "settings", "python", map[string]any{
			"enabled": upd.Enabled, "cpu_seconds": upd.CPUSeconds, "memory_mb": upd.MemoryMB, "output_mb": upd.OutputMB, "wall_seconds": upd.WallSeconds,
		})
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

const pythonSettingsColumns = "enabled, cpu_seconds, memory_mb, output_mb, wall_seconds, updated_at"

// readPythonSettings returns the saved settings with defaults filled in:
// Python off and default limits when none are saved.
func readPythonSettings(ctx context.Context, tx *Tx) (*bitnobi.PythonSettings, error) {
	ps := &bitnobi.PythonSettings{}
	var enabled int64
	var updated string
	err := tx.QueryRow(ctx, `SELECT `+pythonSettingsColumns+` FROM python_settings WHERE id = 1`).
		Scan(&enabled, &ps.CPUSeconds, &ps.MemoryMB, &ps.OutputMB, &ps.WallSeconds, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		*ps = ps.WithDefaults()
		return ps, nil
	} else if err != nil {
		return nil, fmt.Errorf("read python settings: %w", err)
	}
	ps.Enabled = enabled != 0
	if ps.UpdatedAt, err = parseTS(updated); err != nil {
		return nil, err
	}
	*ps = ps.WithDefaults()
	return ps, nil
}
