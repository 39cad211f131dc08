package store

import (
	"context"
	"fmt"

	"github.com/bitnobi/bitnobi"
)

// InterruptedRunError is the error recorded on a workflow run that was
// still running when its server stopped, or when the backup it was
// restored from was taken.
const InterruptedRunError = "The run was interrupted (the server stopped, or the state was restored from a backup taken while it ran) and did not finish. Start it again."

// FailInterruptedRuns marks every workflow run still "running" as failed
// with [InterruptedRunError], ends it now, and audits a workflow.end for
// each (the actor comes from ctx). It returns how many it marked.
//
// Runs are synchronous: a run is "running" only while the request that
// started it is being served. Call it when no server can own one: when
// a server starts (before it serves), and on a freshly restored state.
func (db *DB) FailInterruptedRuns(ctx context.Context) (n int64, err error) {
	err = db.WriteTx(ctx, func(tx *Tx) error {
		n, err = tx.FailInterruptedRuns(ctx)
		return err
	})
	return n, err
}

// FailInterruptedRuns is [DB.FailInterruptedRuns] within tx.
func (tx *Tx) FailInterruptedRuns(ctx context.Context) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT id, workflow_id FROM workflow_runs WHERE status = ? ORDER BY started_at, id`, bitnobi.RunRunning)
	if err != nil {
		return 0, fmt.Errorf("list interrupted runs: %w", err)
	}
	type run struct{ id, workflow string }
	var runs []run
	for rows.Next() {
		var r run
		if err := rows.Scan(&r.id, &r.workflow); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list interrupted runs: %w", err)
		}
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("list interrupted runs: %w", err)
	}
	for _, r := range runs {
		if _, err := tx.Exec(ctx, `UPDATE workflow_runs SET status = ?, error = ?, ended_at = ? WHERE id = ? AND status = ?`,
			bitnobi.RunFailed, InterruptedRunError, ts(tx.Now()), r.id, bitnobi.RunRunning); err != nil {
			return 0, fmt.Errorf("fail interrupted run %s: %w", r.id, err)
		}
		if err := tx.Audit(ctx, bitnobi.ActionWorkflowEnd, "workflow", r.workflow, map[string]any{
			"run_id": r.id, "status": bitnobi.RunFailed, "error": InterruptedRunError, "rows": 0,
		}); err != nil {
			return 0, err
		}
	}
	return int64(len(runs)), nil
}
