package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/bitnobi/bitnobi"
)

// ReportService implements [bitnobi.ReportService] on the database.
type ReportService struct {
	DB *DB
}

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

// FindReports lists the actor's reports, all for the administrator,
// oldest first.
func (s *ReportService) FindReports(ctx context.Context) ([]*bitnobi.Report, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var out []*bitnobi.Report
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		if a.IsAdmin {
			out, err = queryReports(ctx, tx, `ORDER BY created_at, id`)
		} else {
			out, err = queryReports(ctx, tx, `WHERE owner_id = ? ORDER BY created_at, id`, a.UserID)
		}
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
		r, err = findReport(ctx, tx, a, id)
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
		if r, err = findReport(ctx, tx, a, id); err != nil {
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
		r, err := findReport(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM reports WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete report: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionReportDelete, "report", id, map[string]any{"name": r.Name, "owner_id": r.OwnerID, "workflow_id": r.WorkflowID})
	})
}

// findReport returns a report a may see (their own, or any for the
// administrator), and ENOTFOUND otherwise.
func findReport(ctx context.Context, tx *Tx, a *bitnobi.Actor, id string) (*bitnobi.Report, error) {
	rs, err := queryReports(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || !(a.IsAdmin || rs[0].OwnerID == a.UserID) {
		return nil, bitnobi.Errorf(bitnobi.ENOTFOUND, "Report not found.")
	}
	return rs[0], nil
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
