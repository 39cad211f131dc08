package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// DefaultPreviewTimeout bounds a preview when [WorkflowService.PreviewTimeout]
// is zero.
const DefaultPreviewTimeout = 10 * time.Second

// Preview evaluates the part of a graph that one element depends on, with
// the inputs a run of the workflow would read ([WorkflowService.inputsOf]:
// what the workflow's owner may read), and returns that element's first
// rows. Nothing is stored: no run, no result, no lineage.
func (s *WorkflowService) Preview(ctx context.Context, req bitnobi.PreviewRequest) (*bitnobi.Preview, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	n := req.Rows
	switch {
	case n == 0:
		n = bitnobi.DefaultPreviewRows
	case n < 0 || n > bitnobi.MaxPreviewRows:
		return nil, bitnobi.Invalidf("rows", "A preview shows 1 to %d rows, not %d.", bitnobi.MaxPreviewRows, n)
	}
	// An unsaved graph is previewed as the actor's own workflow; a saved
	// one reads, as its runs do, what its owner may read.
	w := &bitnobi.Workflow{OwnerID: a.UserID}
	var owner *bitnobi.User
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		if req.WorkflowID != "" {
			if w, _, err = findWorkflow(ctx, tx, a, req.WorkflowID, wfAccessManage); err != nil {
				return err
			}
		}
		if owner, err = findUser(ctx, tx, w.OwnerID); err != nil {
			return fmt.Errorf("find owner of workflow %s: %w", req.WorkflowID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case req.Graph != nil:
		w.Graph = *req.Graph
	case req.WorkflowID == "":
		return nil, bitnobi.Invalidf("graph", "Send the graph to preview, or preview a saved workflow.")
	}
	part, err := workflow.PreviewGraph(&w.Graph, req.ElementID)
	if err != nil {
		return nil, err
	}

	timeout := s.PreviewTimeout
	if timeout <= 0 {
		timeout = DefaultPreviewTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := &bitnobi.Preview{ElementID: req.ElementID, Columns: []string{}, Rows: [][]any{}}
	if err := readPreview(ctx, p, part, s.inputsOf(owner), n); err != nil {
		if bitnobi.ErrorCode(err) == bitnobi.EINTERNAL && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.DB.Logger.Error("workflow preview failed", "workflow_id", req.WorkflowID, "element_id", req.ElementID, "err", err)
		}
		msg := runErrorMessage(err)
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("The preview took longer than %s; preview an element nearer the sources, or run the workflow.", timeout)
		}
		return &bitnobi.Preview{ElementID: req.ElementID, Columns: []string{}, Rows: [][]any{}, Error: msg}, nil
	}
	return p, nil
}

// readPreview runs part and reads up to n rows (and one more, to learn
// whether there are more) into p.
func readPreview(ctx context.Context, p *bitnobi.Preview, part *bitnobi.Graph, in workflow.Inputs, n int) error {
	rows, err := workflow.Run(ctx, part, in)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols := rows.Columns()
	p.ColumnsTotal = len(cols)
	show := min(len(cols), bitnobi.MaxPreviewColumns)
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		if len(p.Rows) == n {
			p.More = true
			break
		}
		p.Rows = append(p.Rows, row[:show:show])
	}
	p.Columns = append(p.Columns, cols[:show]...)
	return nil
}
