package bitnobi

import (
	"context"
	"time"
)

// AuditLogConfig is the config of an Audit Log element: which audit
// entries it reads, all of them when every field is zero. Entries come in
// the order they were recorded. Only a workflow whose owner is the
// administrator may read the audit log; the check is made when it runs.
type AuditLogConfig struct {
	Since      time.Time `json:"since,omitzero"`        // entries at or after this time (RFC 3339)
	Until      time.Time `json:"until,omitzero"`        // entries before this time
	Actor      string    `json:"actor,omitempty"`       // the actor's username or user ID
	Action     string    `json:"action,omitempty"`      // e.g. "user.signin"
	TargetType string    `json:"target_type,omitempty"` // e.g. "workflow"
}

// AuditLogColumns are the columns of an Audit Log element's rows: seq is
// an integer, at an RFC 3339 UTC time, detail a JSON object or "", the
// rest text.
var AuditLogColumns = []string{"seq", "at", "actor_id", "actor_name", "action", "target_type", "target_id", "detail", "remote_addr", "remote_user"}

// PythonSettings are the administrator's settings for Python elements: off
// until an administrator enables them, and the limits each Python element
// runs under. Zero limits mean the defaults (the Default... constants).
type PythonSettings struct {
	Enabled bool `json:"enabled"`
	// CPUSeconds caps the CPU time of the Python process.
	CPUSeconds int `json:"cpu_seconds"`
	// MemoryMB caps its address space, in MiB.
	MemoryMB int `json:"memory_mb"`
	// OutputMB caps what it may write (its output rows), in MiB.
	OutputMB int `json:"output_mb"`
	// WallSeconds caps how long it may run, waiting included.
	WallSeconds int       `json:"wall_seconds"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"` // zero when never saved
}

// Defaults and bounds of [PythonSettings].
const (
	DefaultPythonCPUSeconds  = 30
	DefaultPythonMemoryMB    = 512
	DefaultPythonOutputMB    = 256
	DefaultPythonWallSeconds = 120
	MaxPythonCPUSeconds      = 3600
	MaxPythonMemoryMB        = 16384
	MaxPythonOutputMB        = 16384
	MaxPythonWallSeconds     = 7200
)

// WithDefaults returns s with every zero limit set to its default.
func (s PythonSettings) WithDefaults() PythonSettings {
	if s.CPUSeconds == 0 {
		s.CPUSeconds = DefaultPythonCPUSeconds
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = DefaultPythonMemoryMB
	}
	if s.OutputMB == 0 {
		s.OutputMB = DefaultPythonOutputMB
	}
	if s.WallSeconds == 0 {
		s.WallSeconds = DefaultPythonWallSeconds
	}
	return s
}

// Validate checks the limits: each 0 (the default) or between 1 and its
// maximum. It returns an EINVALID error naming the field.
func (s *PythonSettings) Validate() error {
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"cpu_seconds", s.CPUSeconds, MaxPythonCPUSeconds},
		{"memory_mb", s.MemoryMB, MaxPythonMemoryMB},
		{"output_mb", s.OutputMB, MaxPythonOutputMB},
		{"wall_seconds", s.WallSeconds, MaxPythonWallSeconds},
	} {
		if f.v < 0 || f.v > f.max {
			return Invalidf(f.name, "%s must be 0 (the default) or 1 to %d.", f.name, f.max)
		}
	}
	return nil
}

// PythonSettingsService reads and changes [PythonSettings]. Only the
// administrator may.
type PythonSettingsService interface {
	// GetPythonSettings returns the settings, with the defaults filled
	// in; Enabled is false until an administrator saves it true.
	// Errors: EUNAUTHORIZED, EFORBIDDEN.
	GetPythonSettings(ctx context.Context) (*PythonSettings, error)
	// UpdatePythonSettings replaces the settings (UpdatedAt is ignored)
	// and audits the change as [ActionSettingsUpdate].
	// Errors: EINVALID, EUNAUTHORIZED, EFORBIDDEN.
	UpdatePythonSettings(ctx context.Context, s PythonSettings) (*PythonSettings, error)
}

// SQLSourceSettings say whether SQL elements may connect to the databases
// of their SQL data sources. They are on, except in a copy restored with
// restore --as-copy, where they stay off (so that the copy never queries
// the original's databases) until an administrator turns them on again.
type SQLSourceSettings struct {
	Enabled bool `json:"enabled"`
}

// SQLSourceSettingsService reads and changes [SQLSourceSettings]. Only the
// administrator may.
type SQLSourceSettingsService interface {
	// GetSQLSourceSettings returns the settings.
	// Errors: EUNAUTHORIZED, EFORBIDDEN.
	GetSQLSourceSettings(ctx context.Context) (*SQLSourceSettings, error)
	// UpdateSQLSourceSettings replaces the settings and audits the change
	// as [ActionSettingsUpdate].
	// Errors: EUNAUTHORIZED, EFORBIDDEN.
	UpdateSQLSourceSettings(ctx context.Context, s SQLSourceSettings) (*SQLSourceSettings, error)
}
