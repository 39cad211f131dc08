package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// WorkflowService implements [bitnobi.WorkflowService] on the database;
// runs execute with package workflow and store their result in DB.Blobs.
type WorkflowService struct {
	DB *DB

	// SQLLimits bound the queries of SQL elements (zero: the defaults of
	// [workflow.SQLLimits]).
	SQLLimits workflow.SQLLimits
	// Python is the interpreter Python elements run (empty: python3, see
	// [workflow.PythonOptions]).
	Python string
	// Hidden lists paths Python elements may not open, besides DB.Blobs:
	// the data directory.
	Hidden []string
	// Remote fetches External Data Source elements' rows from peers (nil:
	// those elements fail as unsupported).
	Remote workflow.RemoteFetcher
	// PreviewTimeout bounds a [WorkflowService.Preview]; zero means
	// [DefaultPreviewTimeout].
	PreviewTimeout time.Duration
}

var _ bitnobi.WorkflowService = (*WorkflowService)(nil)

// What an actor may do with a workflow.
const (
	wfAccessNone   = iota // nothing: the workflow is reported as not found
	wfAccessResult        // see it (without graph and policies), its runs and results
	wfAccessManage        // everything: the owner and the administrator
)

// CreateWorkflow stores w with the actor as owner. Policies are attached
// afterwards with AttachPolicy; w.PolicyIDs is ignored.
func (s *WorkflowService) CreateWorkflow(ctx context.Context, w *bitnobi.Workflow) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	q := bitnobi.Workflow{
		ID:          bitnobi.NewID(),
		OwnerID:     a.UserID,
		Name:        w.Name,
		Description: w.Description,
		Graph:       w.Graph,
		PolicyIDs:   []string{},
		Exportables: w.Exportables,
	}
	normalizeWorkflow(&q)
	if err := q.Validate(); err != nil {
		return err
	}
	graph, exportables, err := encodeWorkflow(&q)
	if err != nil {
		return err
	}
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		q.CreatedAt, q.UpdatedAt = tx.Now(), tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO workflows (id, owner_id, name, description, graph, exportables, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			q.ID, q.OwnerID, q.Name, q.Description, graph, exportables, ts(q.CreatedAt), ts(q.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert workflow: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionWorkflowCreate, "workflow", q.ID, map[string]any{"name": q.Name, "elements": len(q.Graph.Elements)})
	})
	if err != nil {
		return err
	}
	*w = q
	return nil
}

// FindWorkflows lists the workflows the actor may see, oldest first.
func (s *WorkflowService) FindWorkflows(ctx context.Context) ([]*bitnobi.Workflow, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var out []*bitnobi.Workflow
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		if a.IsAdmin {
			out, err = queryWorkflows(ctx, tx, `ORDER BY created_at, id`)
			return err
		}
		// The policies attached anywhere that match the actor; matching
		// is done here rather than in SQL, by [bitnobi.Policy.Matches].
		attached, err := queryPolicies(ctx, tx, `WHERE id IN (SELECT policy_id FROM workflow_policies)`)
		if err != nil {
			return err
		}
		where := []string{"owner_id = ?"}
		args := []any{a.UserID}
		var matched []string
		for _, p := range attached {
			if p.Matches(a.Attributes) {
				matched = append(matched, "?")
				args = append(args, p.ID)
			}
		}
		if len(matched) > 0 {
			where = append(where, `id IN (SELECT workflow_id FROM workflow_policies WHERE policy_id IN (`+strings.Join(matched, ", ")+`))`)
		}
		if out, err = queryWorkflows(ctx, tx, `WHERE `+strings.Join(where, " OR ")+` ORDER BY created_at, id`, args...); err != nil {
			return err
		}
		for _, w := range out {
			if w.OwnerID != a.UserID {
				hideRecipe(w)
			}
		}
		return nil
	})
	return out, err
}

// FindWorkflowByID returns a workflow the actor may see.
func (s *WorkflowService) FindWorkflowByID(ctx context.Context, id string) (*bitnobi.Workflow, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var w *bitnobi.Workflow
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		var access int
		w, access, err = findWorkflow(ctx, tx, a, id, wfAccessResult)
		if err == nil && access < wfAccessManage {
			hideRecipe(w)
		}
		return err
	})
	return w, err
}

// UpdateWorkflow changes a workflow's name, description, graph or
// exportables.
func (s *WorkflowService) UpdateWorkflow(ctx context.Context, id string, upd bitnobi.WorkflowUpdate) (*bitnobi.Workflow, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var w *bitnobi.Workflow
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		if w, _, err = findWorkflow(ctx, tx, a, id, wfAccessManage); err != nil {
			return err
		}
		oldGraph, oldExportables, err := encodeWorkflow(w)
		if err != nil {
			return err
		}
		var changed []string
		if upd.Name != nil && *upd.Name != w.Name {
			w.Name = *upd.Name
			changed = append(changed, "name")
		}
		if upd.Description != nil && *upd.Description != w.Description {
			w.Description = *upd.Description
			changed = append(changed, "description")
		}
		if upd.Graph != nil {
			w.Graph = *upd.Graph
		}
		if upd.Exportables != nil {
			w.Exportables = *upd.Exportables
		}
		normalizeWorkflow(w)
		if err := w.Validate(); err != nil {
			return err
		}
		graph, exportables, err := encodeWorkflow(w)
		if err != nil {
			return err
		}
		if graph != oldGraph {
			changed = append(changed, "graph")
		}
		if exportables != oldExportables {
			changed = append(changed, "exportables")
		}
		if len(changed) == 0 {
			return nil // nothing changes: nothing to write or audit
		}
		w.UpdatedAt = tx.Now()
		_, err = tx.Exec(ctx, `UPDATE workflows SET name = ?, description = ?, graph = ?, exportables = ?, updated_at = ? WHERE id = ?`,
			w.Name, w.Description, graph, exportables, ts(w.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("update workflow: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionWorkflowUpdate, "workflow", id, map[string]any{"name": w.Name, "changed": changed})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteWorkflow removes a workflow; the schema's cascades remove its
// runs, policy attachments and the reports over it. Result blobs stay for
// the blob collector.
func (s *WorkflowService) DeleteWorkflow(ctx context.Context, id string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		w, _, err := findWorkflow(ctx, tx, a, id, wfAccessManage)
		if err != nil {
			return err
		}
		var reports int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM reports WHERE workflow_id = ?`, id).Scan(&reports); err != nil {
			return fmt.Errorf("delete workflow: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workflows WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete workflow: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionWorkflowDelete, "workflow", id, map[string]any{"name": w.Name, "owner_id": w.OwnerID, "reports_deleted": reports})
	})
}

// AttachPolicy attaches a policy visible to the workflow's owner. It is
// audited as a workflow update.
func (s *WorkflowService) AttachPolicy(ctx context.Context, workflowID, policyID string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		w, _, err := findWorkflow(ctx, tx, a, workflowID, wfAccessManage)
		if err != nil {
			return err
		}
		ps, err := queryPolicies(ctx, tx, `WHERE id = ?`, policyID)
		if err != nil {
			return err
		}
		// The owner's view decides, also when the administrator attaches:
		// a workflow may be shared only by its owner's or global policies.
		if len(ps) == 0 || !(ps[0].Global || ps[0].OwnerID == w.OwnerID) {
			return bitnobi.Errorf(bitnobi.ENOTFOUND, "Policy not found (a workflow takes its owner's policies and global ones).")
		}
		for _, id := range w.PolicyIDs {
			if id == policyID {
				return nil // attached already: nothing changes, nothing to audit
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workflow_policies (workflow_id, policy_id, attached_at) VALUES (?, ?, ?)`, workflowID, policyID, ts(tx.Now())); err != nil {
			return fmt.Errorf("attach policy: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE workflows SET updated_at = ? WHERE id = ?`, ts(tx.Now()), workflowID); err != nil {
			return fmt.Errorf("attach policy: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionWorkflowUpdate, "workflow", workflowID, map[string]any{"name": w.Name, "policy_attached": policyID, "policy_name": ps[0].Name})
	})
}

// DetachPolicy detaches a policy. It is audited as a workflow update.
func (s *WorkflowService) DetachPolicy(ctx context.Context, workflowID, policyID string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		w, _, err := findWorkflow(ctx, tx, a, workflowID, wfAccessManage)
		if err != nil {
			return err
		}
		r, err := tx.Exec(ctx, `DELETE FROM workflow_policies WHERE workflow_id = ? AND policy_id = ?`, workflowID, policyID)
		if err != nil {
			return fmt.Errorf("detach policy: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return fmt.Errorf("detach policy: %w", err)
		} else if n == 0 {
			return bitnobi.Errorf(bitnobi.ENOTFOUND, "That policy is not attached to this workflow.")
		}
		if _, err := tx.Exec(ctx, `UPDATE workflows SET updated_at = ? WHERE id = ?`, ts(tx.Now()), workflowID); err != nil {
			return fmt.Errorf("detach policy: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionWorkflowUpdate, "workflow", workflowID, map[string]any{"name": w.Name, "policy_detached": policyID})
	})
}

// StartRun runs a workflow synchronously, in three steps:
//
//  1. a transaction records the run as running and audits workflow.start;
//  2. the graph is evaluated with the access of the workflow's OWNER to
//     its inputs, whoever starts the run, so that a run started by the
//     administrator reads no more than the owner may (each data-source
//     and result read audited on its own, as done by the actor) and the
//     result rows are streamed into the blob store as JSON Lines;
//  3. a transaction records the outcome (the result blob and its columns,
//     or the error), the run's lineage (see access.go) and audits
//     workflow.end.
//
// Step 3 runs even if ctx is canceled meanwhile, so that a run does not
// stay "running" because its client went away. A crash between 1 and 3
// leaves a run marked running; the next server start (or a restore of a
// backup taken meanwhile) marks it failed ([DB.FailInterruptedRuns]).
func (s *WorkflowService) StartRun(ctx context.Context, workflowID string) (*bitnobi.WorkflowRun, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	return s.startRun(ctx, a, workflowID, nil)
}

// startRun is StartRun as a, from within the runs of the workflows in
// outer (see [runInputs.RunWorkflow]); outer is nil for a run a user
// starts.
func (s *WorkflowService) startRun(ctx context.Context, a *bitnobi.Actor, workflowID string, outer []*bitnobi.Workflow) (*bitnobi.WorkflowRun, error) {
	var err error
	var w *bitnobi.Workflow
	var owner *bitnobi.User
	run := &bitnobi.WorkflowRun{ID: bitnobi.NewID(), WorkflowID: workflowID, StartedBy: a.UserID, Status: bitnobi.RunRunning, ResultColumns: []string{}}
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		if w, _, err = findWorkflow(ctx, tx, a, workflowID, wfAccessManage); err != nil {
			return err
		}
		if owner, err = findUser(ctx, tx, w.OwnerID); err != nil {
			return fmt.Errorf("find owner of workflow %s: %w", workflowID, err)
		}
		run.StartedAt = tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO workflow_runs (id, workflow_id, started_by, status, progress, started_at) VALUES (?, ?, ?, ?, 0, ?)`,
			run.ID, run.WorkflowID, run.StartedBy, run.Status, ts(run.StartedAt))
		if err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionWorkflowStart, "workflow", workflowID, map[string]any{"name": w.Name, "run_id": run.ID})
	})
	if err != nil {
		return nil, err
	}

	in := s.inputsOf(owner)
	in.runs = append(slices.Clip(outer), w)
	cols, blobID, nrows, size, runErr := s.execute(ctx, in, w)
	if runErr == nil && len(in.lineage.rows) > maxLineage {
		runErr = bitnobi.Errorf(bitnobi.ETOOLARGE, "The run read more than %d sources (with those of the results it read): split the workflow.", maxLineage)
	}

	endCtx := context.WithoutCancel(ctx)
	err = s.DB.WriteTx(endCtx, func(tx *Tx) error {
		run.EndedAt = tx.Now()
		detail := map[string]any{"name": w.Name, "run_id": run.ID}
		if runErr == nil {
			if err := tx.putBlobRow(endCtx, blobID, size); err != nil {
				return err
			}
			run.Status, run.Progress = bitnobi.RunSucceeded, 1
			run.ResultColumns, run.ResultRows, run.ResultBlobID = cols, nrows, blobID
		} else {
			run.Status, run.Error = bitnobi.RunFailed, runErrorMessage(runErr)
			if bitnobi.ErrorCode(runErr) == bitnobi.EINTERNAL {
				s.DB.Logger.Error("workflow run failed", "workflow_id", workflowID, "run_id", run.ID, "err", runErr)
			}
			detail["error"] = run.Error
		}
		if runErr == nil {
			if err := writeLineage(endCtx, tx, run.ID, &in.lineage); err != nil {
				return err
			}
		}
		detail["status"], detail["rows"] = run.Status, run.ResultRows
		colsJSON, err := json.Marshal(run.ResultColumns)
		if err != nil {
			return err
		}
		_, err = tx.Exec(endCtx, `UPDATE workflow_runs SET status = ?, progress = ?, error = ?, result_blob_id = ?, result_columns = ?, result_rows = ?, ended_at = ? WHERE id = ?`,
			run.Status, run.Progress, run.Error, nullString(run.ResultBlobID), string(colsJSON), run.ResultRows, ts(run.EndedAt), run.ID)
		if err != nil {
			return fmt.Errorf("record run outcome: %w", err)
		}
		return tx.Audit(endCtx, bitnobi.ActionWorkflowEnd, "workflow", workflowID, detail)
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// execute evaluates w's graph on in, streaming the result rows into the
// blob store. It returns the result's columns, blob, row count and size.
func (s *WorkflowService) execute(ctx context.Context, in *runInputs, w *bitnobi.Workflow) (cols []string, blobID string, nrows, size int64, err error) {
	rows, err := workflow.Run(ctx, &w.Graph, in)
	if err != nil {
		return nil, "", 0, 0, err
	}
	defer rows.Close()
	cols = rows.Columns()
	pr, pw := io.Pipe()
	type written struct {
		n   int64
		err error
	}
	done := make(chan written, 1)
	go func() {
		n, err := workflow.WriteJSONL(pw, rows)
		pw.CloseWithError(err) // nil: the reader sees EOF
		done <- written{n, err}
	}()
	blobID, size, putErr := s.DB.Blobs.Put(ctx, pr, 0)
	pr.CloseWithError(errResultNotStored) // stops the writer if Put failed early
	wr := <-done
	switch {
	case wr.err != nil && !errors.Is(wr.err, errResultNotStored):
		return nil, "", 0, 0, wr.err // the rows' error explains a failed Put best
	case putErr != nil:
		return nil, "", 0, 0, fmt.Errorf("store result: %w", putErr)
	case wr.err != nil:
		return nil, "", 0, 0, wr.err
	}
	return cols, blobID, wr.n, size, nil
}

// errResultNotStored stops a result writer whose reader has given up.
var errResultNotStored = errors.New("result not stored")

// runErrorMessage is what a failed run's Error says: the message of a
// user-facing error, or a generic one for anything else (which is logged).
func runErrorMessage(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "The run was canceled."
	case errors.Is(err, context.DeadlineExceeded):
		return "The run took too long."
	}
	return bitnobi.ErrorMessage(err)
}

// inputsOf returns what a run of a workflow owned by owner reads its
// inputs through: runs read what the workflow's owner may read, whoever
// starts them. Runs and previews ([WorkflowService.Preview]) both take
// their inputs from here, so that a preview reads exactly what a run may.
func (s *WorkflowService) inputsOf(owner *bitnobi.User) *runInputs {
	return &runInputs{s: s, reader: &bitnobi.Actor{UserID: owner.ID, Username: owner.Username, IsAdmin: owner.IsAdmin, Attributes: owner.Attributes}}
}

// runInputs opens a run's inputs with the access of reader, the
// workflow's owner: their own data sources (any, for the administrator)
// and the results of workflows shared with them, under the rules of
// access.go. It records what it opens in lineage. The reads are audited
// as done by the actor of ctx, who started the run.
type runInputs struct {
	s       *WorkflowService
	reader  *bitnobi.Actor
	lineage lineage
	// runs are the workflows being run, outermost first: the last is the
	// one whose graph these inputs serve, the others run it through
	// Workflow elements.
	runs []*bitnobi.Workflow
}

func (in *runInputs) OpenDataSource(ctx context.Context, id string) (io.ReadCloser, *bitnobi.DataSource, error) {
	ds := &DataSourceService{DB: in.s.DB}
	rc, d, err := ds.openDataSource(ctx, in.reader, id)
	if err == nil {
		in.lineage.add(runSource{Kind: sourceDataSource, SourceID: d.ID, OwnerID: d.OwnerID})
	}
	return rc, d, err
}

func (in *runInputs) OpenResult(ctx context.Context, workflowID string) (*bitnobi.WorkflowRun, io.ReadCloser, error) {
	return in.s.openResult(ctx, in.reader, workflowID, "", &in.lineage)
}

// FindRuns lists a workflow's runs, newest first.
func (s *WorkflowService) FindRuns(ctx context.Context, workflowID string) ([]*bitnobi.WorkflowRun, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var runs []*bitnobi.WorkflowRun
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		w, _, err := findWorkflow(ctx, tx, a, workflowID, wfAccessResult)
		if err != nil {
			return err
		}
		if runs, err = queryRuns(ctx, tx, `WHERE workflow_id = ? ORDER BY started_at DESC, id DESC`, workflowID); err != nil {
			return err
		}
		// Users of the result see the columns they may read.
		for i, r := range runs {
			keep, err := exportedColumns(a, w, r.ResultColumns, false)
			if err != nil {
				keep = []int{} // none is exportable
			}
			runs[i] = projectRun(r, keep)
		}
		return nil
	})
	return runs, err
}

// ReadResult opens the result of a succeeded run and audits the access.
func (s *WorkflowService) ReadResult(ctx context.Context, workflowID, runID string) (*bitnobi.WorkflowRun, io.ReadCloser, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.openResult(ctx, a, workflowID, runID, nil)
}

// openResult opens the result of run runID of a workflow whose result a
// may see, or of its last succeeded run when runID is "", and audits the
// access in the same transaction (as done by the actor of ctx). It
// enforces the rules of access.go: a must still be allowed every foreign
// source of the run's lineage, and reads only the exportable columns
// unless a owns the workflow or is the administrator. When l is not nil,
// the run and its foreign sources are added to it.
func (s *WorkflowService) openResult(ctx context.Context, a *bitnobi.Actor, workflowID, runID string, l *lineage) (*bitnobi.WorkflowRun, io.ReadCloser, error) {
	var run *bitnobi.WorkflowRun
	var rc io.ReadCloser
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		w, _, err := findWorkflow(ctx, tx, a, workflowID, wfAccessResult)
		if err != nil {
			return err
		}
		var runs []*bitnobi.WorkflowRun
		if runID == "" {
			runs, err = queryRuns(ctx, tx, `WHERE workflow_id = ? AND status = ? ORDER BY started_at DESC, id DESC LIMIT 1`, workflowID, bitnobi.RunSucceeded)
			if err == nil && len(runs) == 0 {
				return bitnobi.Errorf(bitnobi.ECONFLICT, "Workflow %q has no successful run yet.", w.Name)
			}
		} else {
			runs, err = queryRuns(ctx, tx, `WHERE workflow_id = ? AND id = ?`, workflowID, runID)
			if err == nil && len(runs) == 0 {
				return bitnobi.Errorf(bitnobi.ENOTFOUND, "Run not found.")
			}
		}
		if err != nil {
			return err
		}
		run = runs[0]
		if run.Status != bitnobi.RunSucceeded {
			return bitnobi.Errorf(bitnobi.ECONFLICT, "The run has no result: it %s.", map[string]string{bitnobi.RunRunning: "is still running", bitnobi.RunFailed: "failed"}[run.Status])
		}
		if err := checkLineage(ctx, tx, a, w.OwnerID, run.ID); err != nil {
			return err
		}
		keep, err := exportedColumns(a, w, run.ResultColumns, l != nil)
		if err != nil {
			return err
		}
		if l != nil {
			if err := inheritLineage(ctx, tx, l, w, run); err != nil {
				return err
			}
		}
		f, err := s.DB.Blobs.Open(run.ResultBlobID)
		if err != nil {
			return fmt.Errorf("open result of run %s: %w", run.ID, err)
		}
		detail := map[string]any{"workflow_id": workflowID, "name": w.Name, "owner_id": w.OwnerID, "rows": run.ResultRows}
		if a.UserID != bitnobi.ActorFromContext(ctx).UserID {
			detail["read_as"] = a.UserID
		}
		err = tx.Audit(ctx, bitnobi.ActionDataSourceAccess, "workflow_run", run.ID, detail)
		if err != nil {
			f.Close()
			return err
		}
		rc = projectReader(f, keep)
		run = projectRun(run, keep)
		return nil
	})
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, nil, err
	}
	return run, rc, nil
}

// findWorkflow returns a workflow and what a may do with it: ENOTFOUND
// when a may not see it at all, EFORBIDDEN when a sees only its result but
// need is wfAccessManage.
func findWorkflow(ctx context.Context, tx *Tx, a *bitnobi.Actor, id string, need int) (*bitnobi.Workflow, int, error) {
	ws, err := queryWorkflows(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return nil, 0, err
	}
	if len(ws) == 0 {
		return nil, 0, bitnobi.Errorf(bitnobi.ENOTFOUND, "Workflow not found.")
	}
	w := ws[0]
	access := wfAccessNone
	switch {
	case a.IsAdmin || w.OwnerID == a.UserID:
		access = wfAccessManage
	case len(w.PolicyIDs) > 0:
		ps, err := queryPolicies(ctx, tx, `WHERE id IN (SELECT policy_id FROM workflow_policies WHERE workflow_id = ?)`, id)
		if err != nil {
			return nil, 0, err
		}
		for _, p := range ps {
			if p.Matches(a.Attributes) {
				access = wfAccessResult
				break
			}
		}
	}
	switch {
	case access == wfAccessNone:
		return nil, 0, bitnobi.Errorf(bitnobi.ENOTFOUND, "Workflow not found.")
	case access < need:
		return nil, 0, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the workflow's owner or the administrator may do this; its result is shared with you.")
	}
	return w, access, nil
}

// hideRecipe strips what users who only share a workflow's result do not
// see: how it is made, and by which policies it is shared.
func hideRecipe(w *bitnobi.Workflow) {
	w.Graph = bitnobi.Graph{Elements: []bitnobi.Element{}, Edges: []bitnobi.Edge{}}
	w.PolicyIDs = []string{}
}

// normalizeWorkflow turns nil lists into empty ones, so that JSON shows [].
func normalizeWorkflow(w *bitnobi.Workflow) {
	if w.Graph.Elements == nil {
		w.Graph.Elements = []bitnobi.Element{}
	}
	if w.Graph.Edges == nil {
		w.Graph.Edges = []bitnobi.Edge{}
	}
	if w.Exportables == nil {
		w.Exportables = []string{}
	}
	if w.PolicyIDs == nil {
		w.PolicyIDs = []string{}
	}
}

func encodeWorkflow(w *bitnobi.Workflow) (graph, exportables string, err error) {
	g, err := json.Marshal(w.Graph)
	if err != nil {
		return "", "", fmt.Errorf("encode graph: %w", err)
	}
	e, err := json.Marshal(w.Exportables)
	if err != nil {
		return "", "", fmt.Errorf("encode exportables: %w", err)
	}
	return string(g), string(e), nil
}

// queryWorkflows returns the workflows selected by where (a WHERE and/or
// ORDER BY clause on workflows), each with its attached policy IDs.
func queryWorkflows(ctx context.Context, tx *Tx, where string, args ...any) ([]*bitnobi.Workflow, error) {
	rows, err := tx.Query(ctx, `SELECT id, owner_id, name, description, graph, exportables, created_at, updated_at FROM workflows `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find workflows: %w", err)
	}
	defer rows.Close()
	var out []*bitnobi.Workflow
	for rows.Next() {
		w := &bitnobi.Workflow{}
		var graph, exportables, created, updated string
		if err := rows.Scan(&w.ID, &w.OwnerID, &w.Name, &w.Description, &graph, &exportables, &created, &updated); err != nil {
			return nil, fmt.Errorf("find workflows: %w", err)
		}
		if err := json.Unmarshal([]byte(graph), &w.Graph); err != nil {
			return nil, fmt.Errorf("workflow %s: decode graph: %w", w.ID, err)
		}
		if err := json.Unmarshal([]byte(exportables), &w.Exportables); err != nil {
			return nil, fmt.Errorf("workflow %s: decode exportables: %w", w.ID, err)
		}
		if w.CreatedAt, err = parseTS(created); err != nil {
			return nil, err
		}
		if w.UpdatedAt, err = parseTS(updated); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find workflows: %w", err)
	}
	rows.Close()
	if len(out) > workflowPolicyBatch {
		// A long list: every attachment in one query, not one per
		// workflow (the workflow list pages list thousands).
		if err := fillPolicyIDs(ctx, tx, out); err != nil {
			return nil, err
		}
	}
	for _, w := range out {
		if len(out) <= workflowPolicyBatch {
			w.PolicyIDs, err = queryStrings(ctx, tx, `SELECT policy_id FROM workflow_policies WHERE workflow_id = ? ORDER BY attached_at, policy_id`, w.ID)
			if err != nil {
				return nil, fmt.Errorf("find workflow policies: %w", err)
			}
		}
		normalizeWorkflow(w)
	}
	return out, nil
}

// workflowPolicyBatch is the most workflows whose policies queryWorkflows
// reads with one query each; past it, it reads all attachments at once.
const workflowPolicyBatch = 16

// fillPolicyIDs sets the PolicyIDs of ws from one read of every
// attachment, in attachment order.
func fillPolicyIDs(ctx context.Context, tx *Tx, ws []*bitnobi.Workflow) error {
	byID := make(map[string]*bitnobi.Workflow, len(ws))
	for _, w := range ws {
		byID[w.ID] = w
	}
	rows, err := tx.Query(ctx, `SELECT workflow_id, policy_id FROM workflow_policies ORDER BY attached_at, policy_id`)
	if err != nil {
		return fmt.Errorf("find workflow policies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var wid, pid string
		if err := rows.Scan(&wid, &pid); err != nil {
			return fmt.Errorf("find workflow policies: %w", err)
		}
		if w := byID[wid]; w != nil {
			w.PolicyIDs = append(w.PolicyIDs, pid)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find workflow policies: %w", err)
	}
	return nil
}

// queryRuns returns the runs selected by where (a WHERE and/or ORDER BY
// clause on workflow_runs).
func queryRuns(ctx context.Context, tx *Tx, where string, args ...any) ([]*bitnobi.WorkflowRun, error) {
	rows, err := tx.Query(ctx, `SELECT id, workflow_id, started_by, status, progress, error, result_blob_id, result_columns, result_rows, started_at, ended_at FROM workflow_runs `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find runs: %w", err)
	}
	defer rows.Close()
	out := []*bitnobi.WorkflowRun{}
	for rows.Next() {
		r := &bitnobi.WorkflowRun{}
		var blobID sql.NullString
		var cols, started, ended string
		if err := rows.Scan(&r.ID, &r.WorkflowID, &r.StartedBy, &r.Status, &r.Progress, &r.Error, &blobID, &cols, &r.ResultRows, &started, &ended); err != nil {
			return nil, fmt.Errorf("find runs: %w", err)
		}
		r.ResultBlobID = blobID.String
		if err := json.Unmarshal([]byte(cols), &r.ResultColumns); err != nil {
			return nil, fmt.Errorf("run %s: decode result columns: %w", r.ID, err)
		}
		if r.ResultColumns == nil {
			r.ResultColumns = []string{}
		}
		if r.StartedAt, err = parseTS(started); err != nil {
			return nil, err
		}
		if r.EndedAt, err = parseTS(ended); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find runs: %w", err)
	}
	return out, nil
}
