package workflow

import (
	"context"

	"github.com/bitnobi/bitnobi"
)

// The source elements beyond Importer and Datasource, and the Python
// element, need more of their [Inputs]: each is an optional capability,
// checked by type assertion, so that an Inputs without it runs every other
// element and reports that element as unsupported.

// AuditLogInput opens the audit log, for an Audit Log element.
type AuditLogInput interface {
	// OpenAuditLog returns the entries c selects as rows of
	// [bitnobi.AuditLogColumns], in the order they were recorded. It
	// refuses (EFORBIDDEN) unless the audit log may be read in this run.
	OpenAuditLog(ctx context.Context, c bitnobi.AuditLogConfig) (Rows, error)
}

// WorkflowInput runs another workflow, for a Workflow element.
type WorkflowInput interface {
	// RunWorkflow runs the workflow and returns its result's rows. A
	// workflow that would run itself, directly or through others, is an
	// EINVALID error naming the cycle.
	RunWorkflow(ctx context.Context, workflowID string) (Rows, error)
}

// SQLInput opens a SQL data source, for a SQL element.
type SQLInput interface {
	// OpenSQL returns a SQL data source, its unsealed password and the
	// limits to query it under.
	OpenSQL(ctx context.Context, dataSourceID string) (*SQLSource, error)
}

// ExternalInput reads a paired remote server's shared result, for an
// External Data Source element.
type ExternalInput interface {
	// OpenExternal returns the rows of the remote result c names, fetched
	// on behalf of the run's reader. A disabled or missing remote server
	// is an error, and so is a remote refusal.
	OpenExternal(ctx context.Context, c bitnobi.ExternalConfig) (Rows, error)
}

// RemoteFetcher fetches a shared result from a peer; the federation
// package implements it.
type RemoteFetcher interface {
	// FetchResult asks peer for the latest result of its workflow
	// workflowID on behalf of user, and returns its rows.
	FetchResult(ctx context.Context, peer *bitnobi.Peer, workflowID string, user bitnobi.RemoteUser) (Rows, error)
}

// PythonInput says whether and how Python elements run.
type PythonInput interface {
	// PythonSettings returns the administrator's Python settings.
	PythonSettings(ctx context.Context) (*PythonOptions, error)
}

// unsupported is the error for an element whose capability in is missing.
func unsupported(el *bitnobi.Element) error {
	return bitnobi.Errorf(bitnobi.EUNSUPPORTED, "%s elements are not supported in this version.", el.Type)
}

// extraElement builds the rows of the elements of this file's capabilities;
// ok is false for any other type.
func (b *builder) extraElement(el *bitnobi.Element, ins []Rows) (rows Rows, ok bool, err error) {
	switch el.Type {
	case bitnobi.ElementAuditLog:
		var c bitnobi.AuditLogConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, true, err
		}
		in, ok := b.in.(AuditLogInput)
		if !ok {
			return nil, true, unsupported(el)
		}
		rows, err := in.OpenAuditLog(b.ctx, c)
		return rows, true, err
	case bitnobi.ElementWorkflow:
		var c bitnobi.WorkflowRefConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, true, err
		}
		in, ok := b.in.(WorkflowInput)
		if !ok {
			return nil, true, unsupported(el)
		}
		rows, err := in.RunWorkflow(b.ctx, c.WorkflowID)
		return rows, true, err
	case bitnobi.ElementSQL:
		var c bitnobi.ImporterConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, true, err
		}
		in, ok := b.in.(SQLInput)
		if !ok {
			return nil, true, unsupported(el)
		}
		src, err := in.OpenSQL(b.ctx, c.DataSourceID)
		if err != nil {
			return nil, true, err
		}
		rows, err := QuerySQL(b.ctx, src)
		return rows, true, err
	case bitnobi.ElementExternal:
		var c bitnobi.ExternalConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, true, err
		}
		in, ok := b.in.(ExternalInput)
		if !ok {
			return nil, true, unsupported(el)
		}
		rows, err := in.OpenExternal(b.ctx, c)
		return rows, true, err
	case bitnobi.ElementPython:
		var c bitnobi.PythonConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, true, err
		}
		in, ok := b.in.(PythonInput)
		if !ok {
			return nil, true, unsupported(el)
		}
		opts, err := in.PythonSettings(b.ctx)
		if err != nil {
			return nil, true, err
		}
		if !opts.Enabled {
			return nil, true, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Python elements are off on this server: an administrator turns them on in the Python settings (PUT /api/settings/python).")
		}
		rows, err := RunPython(b.ctx, c.Code, ins[0], opts)
		return rows, true, err
	}
	return nil, false, nil
}
