package store_test

import (
	"context"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

func TestFailInterruptedRuns(t *testing.T) { dbtest.Run(t, testFailInterruptedRuns) }

func testFailInterruptedRuns(t *testing.T, engine string) {
	ctx := bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{Username: "bitnobi serve"})
	db := dbtest.Open(t, engine)
	err := db.WriteTx(ctx, func(tx *store.Tx) error {
		now := bitnobi.FormatTime(tx.Now())
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO users (id, username, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?)`, []any{"u1", "alice", "a@example.org", now, now}},
			{`INSERT INTO workflows (id, owner_id, name, graph, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`, []any{"wf1", "u1", "W", `{"elements":[],"edges":[]}`, now, now}},
			{`INSERT INTO workflow_runs (id, workflow_id, started_by, status, started_at) VALUES (?, ?, ?, 'running', ?)`, []any{"r-running", "wf1", "u1", now}},
			{`INSERT INTO workflow_runs (id, workflow_id, started_by, status, error, started_at, ended_at) VALUES (?, ?, ?, 'failed', 'boom', ?, ?)`, []any{"r-failed", "wf1", "u1", now, now}},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.FailInterruptedRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("FailInterruptedRuns()=%d, want 1", n)
	}
	status := func(id string) (st, msg, ended string) {
		t.Helper()
		if err := db.Read.QueryRow(db.Dialect.Rebind(`SELECT status, error, ended_at FROM workflow_runs WHERE id = ?`), id).Scan(&st, &msg, &ended); err != nil {
			t.Fatal(err)
		}
		return st, msg, ended
	}
	if st, msg, ended := status("r-running"); st != bitnobi.RunFailed || msg != store.InterruptedRunError || ended == "" {
		t.Fatalf("interrupted run: status %q, error %q, ended %q; want failed, %q and an end time", st, msg, ended, store.InterruptedRunError)
	}
	if st, msg, _ := status("r-failed"); st != bitnobi.RunFailed || msg != "boom" {
		t.Fatalf("finished run changed: %q, %q", st, msg)
	}
	var audited int
	if err := db.Read.QueryRow(db.Dialect.Rebind(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND actor_name = ?`), bitnobi.ActionWorkflowEnd, "bitnobi serve").Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited != 1 {
		t.Fatalf("%d workflow.end audit entries, want 1", audited)
	}
	if n, err := db.FailInterruptedRuns(ctx); err != nil || n != 0 {
		t.Fatalf("second FailInterruptedRuns()=%d, %v; want 0", n, err)
	}
}
