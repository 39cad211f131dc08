package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// ReportService implements [bitnobi.ReportService] on the database.
type ReportService struct {
	DB *DB
	// Workflows reads the results reports draw (ReportData); nil means a
	// [WorkflowService] on DB. Set it to the server's own, so that report
	// data is read exactly as results are.
	Workflows bitnobi.WorkflowService
}

// What an actor may do with a report.
const (
	reportAccessView   = iota + 1 // see it and its data: shared with its workflow's result
	reportAccessManage            // everything: the owner and the administrator
)

var _ bitnobi.ReportService = (*ReportService)(nil)

// CreateReport stores r with the actor as owner, over a workflow whose
// result the actor may see.
func (s *ReportService) CreateReport(ctx context.Context, r *bitnobi.Report) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	q := bitnobi.Report{
		ID:          bitnobi.NewID(),
		OwnerID:     a.UserID,
		WorkflowID:  r.WorkflowID,
		Name:        r.Name,
		Description: r.Description,
		Charts:      r.Charts,
	}
	normalizeReport(&q)
	if err := q.Validate(); err != nil {
		return err
	}
	if !bitnobi.ValidID(q.WorkflowID) {
		return bitnobi.Invalidf("workflow_id", "workflow_id must be the id of a workflow.")
	}
	charts, err := json.Marshal(q.Charts)
	if err != nil {
		return fmt.Errorf("encode charts: %w", err)
	}
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		if _, _, err := findWorkflow(ctx, tx, a, q.WorkflowID, wfAccessResult); err != nil {
			if bitnobi.ErrorCode(err) == bitnobi.ENOTFOUND {
				return bitnobi.Invalidf("workflow_id", "No such workflow, or its result is not shared with you.")
			}
			return err
		}
		q.CreatedAt, q.UpdatedAt = tx.Now(), tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO reports (id, owner_id, workflow_id, name, description, charts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			q.ID, q.OwnerID, q.WorkflowID, q.Name, q.Description, string(charts), ts(q.CreatedAt), ts(q.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert report: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionReportCreate, "report", q.ID, map[string]any{"name": q.Name, "workflow_id": q.WorkflowID, "charts": len(q.Charts)})
	})
	if err != nil {
		return err
	}
	*r = q
	return nil
}

// FindReports lists the reports the actor may see, all for the
// administrator, oldest first: their own, and those their owner shares
// with the result of their own workflow when one of its policies matches
// the actor.
func (s *ReportService) FindReports(ctx context.Context) ([]*bitnobi.Report, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var out []*bitnobi.Report
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		if a.IsAdmin {
			out, err = queryReports(ctx, tx, `ORDER BY created_at, id`)
			return err
		}
		// As in FindWorkflows: the attached policies that match the actor.
		attached, err := queryPolicies(ctx, tx, `WHERE id IN (SELECT policy_id FROM workflow_policies)`)
		if err != nil {
			return err
		}
		where := `owner_id = ?`
		args := []any{a.UserID}
		var matched []string
		for _, p := range attached {
			if p.Matches(a.Attributes) {
				matched = append(matched, "?")
				args = append(args, p.ID)
			}
		}
		if len(matched) > 0 {
			where += ` OR (owner_id = (SELECT w.owner_id FROM workflows w WHERE w.id = reports.workflow_id)
				AND workflow_id IN (SELECT workflow_id FROM workflow_policies WHERE policy_id IN (` + strings.Join(matched, ", ") + `)))`
		}
		out, err = queryReports(ctx, tx, `WHERE `+where+` ORDER BY created_at, id`, args...)
		return err
	})
	return out, err
}

// FindReportByID returns a report the actor may see.
func (s *ReportService) FindReportByID(ctx context.Context, id string) (*bitnobi.Report, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var r *bitnobi.Report
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		r, err = findReport(ctx, tx, a, id, reportAccessView)
		return err
	})
	return r, err
}

// UpdateReport changes a report's name, description or charts.
func (s *ReportService) UpdateReport(ctx context.Context, id string, upd bitnobi.ReportUpdate) (*bitnobi.Report, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var r *bitnobi.Report
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		if r, err = findReport(ctx, tx, a, id, reportAccessManage); err != nil {
			return err
		}
		oldCharts, err := json.Marshal(r.Charts)
		if err != nil {
			return fmt.Errorf("encode charts: %w", err)
		}
		var changed []string
		if upd.Name != nil && *upd.Name != r.Name {
			r.Name = *upd.Name
			changed = append(changed, "name")
		}
		if upd.Description != nil && *upd.Description != r.Description {
			r.Description = *upd.Description
			changed = append(changed, "description")
		}
		if upd.Charts != nil {
			r.Charts = *upd.Charts
		}
		normalizeReport(r)
		if err := r.Validate(); err != nil {
			return err
		}
		charts, err := json.Marshal(r.Charts)
		if err != nil {
			return fmt.Errorf("encode charts: %w", err)
		}
		if !bytes.Equal(charts, oldCharts) {
			changed = append(changed, "charts")
		}
		if len(changed) == 0 {
			return nil // nothing changes: nothing to write or audit
		}
		r.UpdatedAt = tx.Now()
		_, err = tx.Exec(ctx, `UPDATE reports SET name = ?, description = ?, charts = ?, updated_at = ? WHERE id = ?`,
			r.Name, r.Description, string(charts), ts(r.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("update report: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionReportUpdate, "report", id, map[string]any{"name": r.Name, "changed": changed})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteReport removes a report.
func (s *ReportService) DeleteReport(ctx context.Context, id string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		r, err := findReport(ctx, tx, a, id, reportAccessManage)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM reports WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete report: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionReportDelete, "report", id, map[string]any{"name": r.Name, "owner_id": r.OwnerID, "workflow_id": r.WorkflowID})
	})
}

// findReport returns a report a may see: ENOTFOUND when a may not see it
// at all, EFORBIDDEN when a sees it only as a user its workflow's result is
// shared with but need is reportAccessManage.
func findReport(ctx context.Context, tx *Tx, a *bitnobi.Actor, id string, need int) (*bitnobi.Report, error) {
	rs, err := queryReports(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	notFound := bitnobi.Errorf(bitnobi.ENOTFOUND, "Report not found.")
	if len(rs) == 0 {
		return nil, notFound
	}
	r := rs[0]
	if a.IsAdmin || r.OwnerID == a.UserID {
		return r, nil
	}
	// Shared with the workflow's result only when the report's owner owns
	// the workflow: the workflow's policies are theirs to set.
	w, _, err := findWorkflow(ctx, tx, a, r.WorkflowID, wfAccessResult)
	switch {
	case bitnobi.ErrorCode(err) == bitnobi.ENOTFOUND:
		return nil, notFound
	case err != nil:
		return nil, err
	case w.OwnerID != r.OwnerID:
		return nil, notFound
	case need > reportAccessView:
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the report's owner or the administrator may do this; the report is shared with you.")
	}
	return r, nil
}

// normalizeReport turns nil lists into empty ones, so that JSON shows [].
func normalizeReport(r *bitnobi.Report) {
	if r.Charts == nil {
		r.Charts = []bitnobi.Chart{}
	}
	for i := range r.Charts {
		if r.Charts[i].Y == nil {
			r.Charts[i].Y = []string{}
		}
	}
}

// queryReports returns the reports selected by where (a WHERE and/or ORDER
// BY clause on reports).
func queryReports(ctx context.Context, tx *Tx, where string, args ...any) ([]*bitnobi.Report, error) {
	rows, err := tx.Query(ctx, `SELECT id, owner_id, workflow_id, name, description, charts, created_at, updated_at FROM reports `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find reports: %w", err)
	}
	defer rows.Close()
	out := []*bitnobi.Report{}
	for rows.Next() {
		r := &bitnobi.Report{}
		var charts, created, updated string
		if err := rows.Scan(&r.ID, &r.OwnerID, &r.WorkflowID, &r.Name, &r.Description, &charts, &created, &updated); err != nil {
			return nil, fmt.Errorf("find reports: %w", err)
		}
		if err := json.Unmarshal([]byte(charts), &r.Charts); err != nil {
			return nil, fmt.Errorf("report %s: decode charts: %w", r.ID, err)
		}
		normalizeReport(r)
		if r.CreatedAt, err = parseTS(created); err != nil {
			return nil, err
		}
		if r.UpdatedAt, err = parseTS(updated); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find reports: %w", err)
	}
	return out, nil
}
