package store

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// The inputs of the Audit Log, Workflow, SQL and Python elements: each
// reads with the access of the run's reader (the workflow's owner, see
// StartRun), through the same functions as the Importer's and
// Datasource's inputs, and records what it reads in the run's lineage.
var (
	_ workflow.AuditLogInput = (*runInputs)(nil)
	_ workflow.WorkflowInput = (*runInputs)(nil)
	_ workflow.SQLInput      = (*runInputs)(nil)
	_ workflow.PythonInput   = (*runInputs)(nil)
)

// maxWorkflowDepth caps how deeply Workflow elements may nest runs.
const maxWorkflowDepth = 16

// auditPage is how many audit entries an Audit Log element reads at once.
const auditPage = 1000

// OpenAuditLog reads the audit log for an Audit Log element. Both the
// user who started the run and the owner of the workflow (the reader,
// read from the database when the run started) must be administrators:
// a workflow made by an administrator who has since lost the role no
// longer reads the log. The entries are those recorded before the
// element started (not the run's own), read a page at a time in short
// transactions; the read is audited as a data-source access.
func (in *runInputs) OpenAuditLog(ctx context.Context, c bitnobi.AuditLogConfig) (workflow.Rows, error) {
	w := in.runs[len(in.runs)-1]
	var last int64
	err := in.s.DB.WriteTx(ctx, func(tx *Tx) error {
		if !in.reader.IsAdmin || !bitnobi.ActorFromContext(ctx).IsAdmin {
			return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator's workflows may read the audit log: workflow %q is not owned by an administrator.", w.Name)
		}
		var err error
		if last, err = tx.auditLast(ctx); err != nil {
			return fmt.Errorf("audit log element: %w", err)
		}
		detail := map[string]any{"workflow_id": w.ID, "name": w.Name}
		if c != (bitnobi.AuditLogConfig{}) {
			detail["filter"] = c
		}
		return tx.Audit(ctx, bitnobi.ActionDataSourceAccess, "audit_log", "", detail)
	})
	if err != nil {
		return nil, err
	}
	q := auditQuery{upto: last, actor: c.Actor, action: c.Action, targetType: c.TargetType, since: c.Since, until: c.Until, limit: auditPage}
	if last == 0 {
		return &auditRows{ctx: ctx, db: in.s.DB, done: true}, nil
	}
	return &auditRows{ctx: ctx, db: in.s.DB, q: q}, nil
}

// auditRows pages through the audit log, sealed segments and audit_log,
// up to seq q.upto.
type auditRows struct {
	ctx  context.Context
	db   *DB
	q    auditQuery // q.after: the last seq read
	page [][]any
	done bool
}

func (r *auditRows) Columns() []string { return bitnobi.AuditLogColumns }
func (r *auditRows) Close() error      { return nil }

func (r *auditRows) Next() ([]any, error) {
	if len(r.page) == 0 && !r.done {
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
	if len(r.page) == 0 {
		return nil, io.EOF
	}
	row := r.page[0]
	r.page = r.page[1:]
	return row, nil
}

// fill reads the next page.
func (r *auditRows) fill() error {
	return r.db.ReadTx(r.ctx, func(tx *Tx) error {
		entries, err := tx.findAudit(r.ctx, &r.q)
		if err != nil {
			return err
		}
		for _, e := range entries {
			r.page = append(r.page, []any{e.Seq, e.At.UTC().Format(bitnobi.TimeFormat), e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Detail, e.RemoteAddr, e.RemoteUser})
			r.q.after = e.Seq
		}
		r.done = len(entries) < auditPage
		return nil
	})
}

// RunWorkflow runs another workflow for a Workflow element, as a run of
// its own (recorded and audited like one a user starts, with the same
// access: the actor must be allowed to start it), then reads its result.
// A workflow already being run in this chain is a cycle, refused before
// anything runs.
func (in *runInputs) RunWorkflow(ctx context.Context, workflowID string) (workflow.Rows, error) {
	for i, w := range in.runs {
		if w.ID != workflowID {
			continue
		}
		names := make([]string, 0, len(in.runs)-i+1)
		for _, x := range in.runs[i:] {
			names = append(names, fmt.Sprintf("%q", x.Name))
		}
		names = append(names, fmt.Sprintf("%q", w.Name))
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "Workflow elements form a cycle: %s. A workflow cannot use its own result this way: remove one of these Workflow elements (a Datasource element reads a workflow's last result instead).", strings.Join(names, " runs "))
	}
	if len(in.runs) >= maxWorkflowDepth {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "Workflow elements nest more than %d workflows deep: use a Datasource element to read a result instead of running its workflow.", maxWorkflowDepth)
	}
	// The nested run is started by this run's reader, so it needs the
	// same right to start the workflow a user would need; it then reads
	// with its own owner's access, as every run does.
	run, err := in.s.startRun(ctx, in.reader, workflowID, in.runs)
	if err != nil {
		return nil, err
	}
	if run.Status != bitnobi.RunSucceeded {
		var name string
		if ws, err := in.s.DB.workflowName(ctx, workflowID); err == nil {
			name = ws
		}
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "workflow %q failed: %s", name, run.Error)
	}
	run, rc, err := in.s.openResult(ctx, in.reader, workflowID, run.ID, &in.lineage)
	if err != nil {
		return nil, err
	}
	return workflow.NewJSONLReader(ctx, run.ResultColumns, rc), nil
}

// workflowName returns a workflow's name, for messages.
func (db *DB) workflowName(ctx context.Context, id string) (string, error) {
	var name string
	err := db.ReadTx(ctx, func(tx *Tx) error {
		return tx.QueryRow(ctx, `SELECT name FROM workflows WHERE id = ?`, id).Scan(&name)
	})
	return name, err
}

// OpenSQL returns a SQL data source the actor may read (findDataSource,
// as for an Importer), with its unsealed password, and audits the access.
// While SQL data sources are off ([MetaSQLSourcesOff]) it refuses, before
// anything connects.
func (in *runInputs) OpenSQL(ctx context.Context, id string) (*workflow.SQLSource, error) {
	var r dataSourceRow
	err := in.s.DB.WriteTx(ctx, func(tx *Tx) error {
		ss, err := readSQLSourceSettings(ctx, tx)
		if err != nil {
			return err
		}
		if !ss.Enabled {
			return sqlSourcesOff()
		}
		if r, err = findDataSource(ctx, tx, in.reader, id); err != nil {
			return err
		}
		if r.ds.Kind != bitnobi.DataSourceSQL {
			return bitnobi.Errorf(bitnobi.EINVALID, "Data source %q is an uploaded file: read it with an Importer element.", r.ds.Name)
		}
		detail := map[string]any{"name": r.ds.Name, "owner_id": r.ds.OwnerID, "driver": r.ds.Driver, "host": r.ds.Host}
		if in.reader.UserID != bitnobi.ActorFromContext(ctx).UserID {
			detail["read_as"] = in.reader.UserID
		}
		return tx.Audit(ctx, bitnobi.ActionDataSourceAccess, "datasource", id, detail)
	})
	if err != nil {
		return nil, err
	}
	in.lineage.add(runSource{Kind: sourceDataSource, SourceID: r.ds.ID, OwnerID: r.ds.OwnerID})
	src := &workflow.SQLSource{DataSource: r.ds, Limits: in.s.SQLLimits}
	if r.secretID != "" {
		if src.Password, err = in.s.DB.RevealSecret(ctx, r.secretID); err != nil {
			return nil, fmt.Errorf("data source %s: password: %w", id, err)
		}
	}
	return src, nil
}

// PythonSettings returns the administrator's Python settings, and what
// Python may not open: the blob store and WorkflowService.Hidden.
func (in *runInputs) PythonSettings(ctx context.Context) (*workflow.PythonOptions, error) {
	var ps *bitnobi.PythonSettings
	err := in.s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		ps, err = readPythonSettings(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	hidden := append([]string(nil), in.s.Hidden...)
	if in.s.DB.Blobs != nil {
		hidden = append(hidden, in.s.DB.Blobs.Dir)
	}
	return &workflow.PythonOptions{PythonSettings: *ps, Python: in.s.Python, Hidden: hidden}, nil
}
