package store

// The access rules for data that flows through workflows (docs/api.md,
// "Access to data"):
//
//   - A run reads with the rights of the workflow's owner, whoever starts
//     it (see StartRun).
//   - A run records its lineage in run_sources: every source it read, and
//     the foreign sources of every result it read (a result's sources that
//     came from someone other than that result's workflow's owner). The
//     lineage is flat, so that checking it needs no recursion and does not
//     depend on intermediate runs still existing.
//   - Reading a result (ReadResult, a Datasource element, and whatever is
//     built on them) checks, at read time, that the reader may still read
//     every source of the lineage that came from someone other than the
//     workflow's owner: the owner shares their own data through the
//     workflow's policies, but cannot widen what others shared with them.
//   - Someone other than the workflow's owner and the administrator reads
//     only the workflow's exportable columns, when it names any.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bitnobi/bitnobi"
)

// Kinds of run_sources rows.
const (
	sourceDataSource  = "datasource"
	sourceWorkflowRun = "workflow_run"
)

// runSource is one row of a run's lineage.
type runSource struct {
	Kind       string // sourceDataSource or sourceWorkflowRun
	SourceID   string // the data source, or the run whose result was read
	WorkflowID string // for sourceWorkflowRun: the run's workflow
	OwnerID    string // the source's owner when it was read
}

// key identifies what a lineage row requires of a reader.
func (s runSource) key() string {
	if s.Kind == sourceWorkflowRun {
		return s.Kind + ":" + s.WorkflowID
	}
	return s.Kind + ":" + s.SourceID
}

// maxLineage bounds the lineage a run records, so that a long chain of
// derived results cannot make every read slow.
const maxLineage = 10000

// lineage collects the sources of a run as its inputs are opened.
type lineage struct {
	rows []runSource
	seen map[string]bool
}

// add records s unless an equivalent row is there already.
func (l *lineage) add(s runSource) {
	k := s.key() + ":" + s.OwnerID + ":" + s.SourceID
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if l.seen[k] {
		return
	}
	l.seen[k] = true
	l.rows = append(l.rows, s)
}

// readLineage returns the lineage rows of a run, in the order recorded.
func readLineage(ctx context.Context, tx *Tx, runID string) ([]runSource, error) {
	rows, err := tx.Query(ctx, `SELECT kind, source_id, workflow_id, owner_id FROM run_sources WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("read lineage of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []runSource
	for rows.Next() {
		var s runSource
		if err := rows.Scan(&s.Kind, &s.SourceID, &s.WorkflowID, &s.OwnerID); err != nil {
			return nil, fmt.Errorf("read lineage of run %s: %w", runID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lineage of run %s: %w", runID, err)
	}
	return out, nil
}

// writeLineage records the lineage of a run.
func writeLineage(ctx context.Context, tx *Tx, runID string, l *lineage) error {
	for i, s := range l.rows {
		_, err := tx.Exec(ctx, `INSERT INTO run_sources (run_id, seq, kind, source_id, workflow_id, owner_id) VALUES (?, ?, ?, ?, ?, ?)`,
			runID, i, s.Kind, s.SourceID, s.WorkflowID, s.OwnerID)
		if err != nil {
			return fmt.Errorf("record lineage of run %s: %w", runID, err)
		}
	}
	return nil
}

// errLineage is what a reader gets whose access to a source of a result
// has ended.
func errLineage() error {
	return bitnobi.Errorf(bitnobi.EFORBIDDEN, "This result was derived from data you may no longer read (another user's data source or workflow result that is no longer shared with you, or deleted). Ask its owner to share it with you again, then run the workflow again.")
}

// checkLineage returns EFORBIDDEN unless a may read every source of run's
// lineage that came from someone other than ownerID, the owner of the
// run's workflow. The administrator reads everything.
func checkLineage(ctx context.Context, tx *Tx, a *bitnobi.Actor, ownerID, runID string) error {
	if a.IsAdmin {
		return nil
	}
	srcs, err := readLineage(ctx, tx, runID)
	if err != nil {
		return err
	}
	checked := map[string]bool{}
	for _, s := range srcs {
		if s.OwnerID == ownerID || s.OwnerID == a.UserID || checked[s.key()] {
			continue
		}
		checked[s.key()] = true
		if s.Kind != sourceWorkflowRun {
			return errLineage() // another user's data source: only its owner reads it
		}
		// Shared with a by a policy of its owner, now?
		if _, _, err := findWorkflow(ctx, tx, a, s.WorkflowID, wfAccessResult); bitnobi.ErrorCode(err) == bitnobi.ENOTFOUND {
			return errLineage()
		} else if err != nil {
			return err
		}
	}
	return nil
}

// inheritLineage adds to l what reading run's result passes on: the run
// itself, and the sources of its lineage that came from someone other
// than its workflow's owner (what came from that owner is theirs to share,
// which reading the run itself stands for).
func inheritLineage(ctx context.Context, tx *Tx, l *lineage, w *bitnobi.Workflow, run *bitnobi.WorkflowRun) error {
	srcs, err := readLineage(ctx, tx, run.ID)
	if err != nil {
		return err
	}
	l.add(runSource{Kind: sourceWorkflowRun, SourceID: run.ID, WorkflowID: w.ID, OwnerID: w.OwnerID})
	for _, s := range srcs {
		if s.OwnerID != w.OwnerID {
			l.add(s)
		}
	}
	return nil
}

// exportedColumns returns the indexes of the result columns a may read of
// a result of w, or nil for all of them: the owner and the administrator
// read every column, and so does everyone when w names no exportables;
// anyone else reads only the exportable columns. A run (forRun) of
// someone else's workflow reads only the exportable columns even when its
// owner is the administrator, so that no other column leaves through the
// administrator's workflows to the users they are shared with. It fails
// with EFORBIDDEN when none of the columns is exportable.
func exportedColumns(a *bitnobi.Actor, w *bitnobi.Workflow, cols []string, forRun bool) ([]int, error) {
	if (a.IsAdmin && !forRun) || a.UserID == w.OwnerID || len(w.Exportables) == 0 {
		return nil, nil
	}
	keep := []int{}
	for i, c := range cols {
		if slices.Contains(w.Exportables, c) {
			keep = append(keep, i)
		}
	}
	if len(keep) == len(cols) {
		return nil, nil
	}
	if len(keep) == 0 {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "None of this result's columns is exportable: ask the workflow's owner to name the columns you may use in its exportables.")
	}
	return keep, nil
}

// projectRun returns a copy of run whose result columns are those at keep.
func projectRun(run *bitnobi.WorkflowRun, keep []int) *bitnobi.WorkflowRun {
	if keep == nil {
		return run
	}
	c := *run
	c.ResultColumns = make([]string, len(keep))
	for i, k := range keep {
		c.ResultColumns[i] = run.ResultColumns[k]
	}
	return &c
}

// projectReader returns the JSON Lines of rc (one JSON array per row) with
// only the values at keep, in that order; closing it closes rc.
func projectReader(rc io.ReadCloser, keep []int) io.ReadCloser {
	if keep == nil {
		return rc
	}
	return &projector{src: rc, r: bufio.NewReaderSize(rc, 64<<10), keep: keep}
}

type projector struct {
	src  io.ReadCloser
	r    *bufio.Reader
	keep []int
	buf  bytes.Buffer // projected bytes not yet read
	err  error
	vals []json.RawMessage
}

func (p *projector) Read(b []byte) (int, error) {
	for p.buf.Len() == 0 && p.err == nil {
		p.err = p.next()
	}
	if p.buf.Len() > 0 {
		return p.buf.Read(b)
	}
	return 0, p.err
}

// next projects one line into buf.
func (p *projector) next() error {
	line, err := p.r.ReadBytes('\n')
	if len(bytes.TrimSpace(line)) > 0 {
		p.vals = p.vals[:0]
		if jerr := json.Unmarshal(line, &p.vals); jerr != nil {
			return fmt.Errorf("project result row: %w", jerr)
		}
		p.buf.WriteByte('[')
		for i, k := range p.keep {
			if k >= len(p.vals) {
				return fmt.Errorf("project result row: %d values, want more than %d", len(p.vals), k)
			}
			if i > 0 {
				p.buf.WriteByte(',')
			}
			p.buf.Write(p.vals[k])
		}
		p.buf.WriteString("]\n")
	}
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

func (p *projector) Close() error { return p.src.Close() }
