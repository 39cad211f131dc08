package bitnobi

import (
	"context"
	"time"
)

// Chart types of a [Report].
const (
	ChartBar     = "bar"
	ChartLine    = "line"
	ChartPie     = "pie"
	ChartTable   = "table"
	ChartScatter = "scatter"
)

// MaxCharts is the most charts a report holds.
const MaxCharts = 100

// Report is a set of charts over the result set of a workflow.
type Report struct {
	ID          string    `json:"id"`
	OwnerID     string    `json:"owner_id"`
	WorkflowID  string    `json:"workflow_id"` // set at creation, never changed
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Charts      []Chart   `json:"charts"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Chart draws columns of a result set: X along one axis (the labels of a
// pie), each of Y along the other (one series each). A table shows X and
// Y, or every column when both are empty.
type Chart struct {
	Type  string   `json:"type"` // ChartBar, ChartLine, ChartPie, ChartTable or ChartScatter
	Title string   `json:"title"`
	X     string   `json:"x"`
	Y     []string `json:"y"`
}

// Validate checks the fields a user sets. It returns an EINVALID error
// naming the first bad field ("name", "description", "charts").
func (r *Report) Validate() error {
	if err := validateName(r.Name); err != nil {
		return err
	}
	if err := validateDescription(r.Description); err != nil {
		return err
	}
	return validateCharts(r.Charts)
}

func validateCharts(charts []Chart) error {
	if len(charts) > MaxCharts {
		return Invalidf("charts", "A report has at most %d charts.", MaxCharts)
	}
	for i, c := range charts {
		n := i + 1
		switch c.Type {
		case ChartBar, ChartLine, ChartPie, ChartScatter:
			if c.X == "" || len(c.Y) == 0 {
				return Invalidf("charts", "Chart %d (%s) needs x and at least one y column.", n, c.Type)
			}
			if c.Type == ChartPie && len(c.Y) != 1 {
				return Invalidf("charts", "Chart %d (pie) takes exactly one y column.", n)
			}
		case ChartTable:
		default:
			return Invalidf("charts", "Chart %d: type %q is not bar, line, pie, table or scatter.", n, c.Type)
		}
		if len(c.Title) > MaxNameLen {
			return Invalidf("charts", "Chart %d: a title has at most %d bytes.", n, MaxNameLen)
		}
		if len(c.Y) > maxColumns {
			return Invalidf("charts", "Chart %d: at most %d y columns.", n, maxColumns)
		}
		cols := c.Y
		if c.X != "" {
			cols = append([]string{c.X}, c.Y...)
		}
		for _, col := range cols {
			if msg := checkColumnName(col); msg != "" {
				return Invalidf("charts", "Chart %d: %s", n, msg)
			}
		}
	}
	return nil
}

// ReportUpdate holds the fields an update may change; nil means unchanged.
type ReportUpdate struct {
	Name        *string  `json:"name"`
	Description *string  `json:"description"`
	Charts      *[]Chart `json:"charts"`
}

// ReportService manages reports. The actor comes from the context.
//
// Access: a report is visible to its owner and the administrator only;
// every other user gets ENOTFOUND. Creating one requires the workflow's
// result to be visible to the actor (see [WorkflowService]).
type ReportService interface {
	// CreateReport stores r with the actor as owner, after
	// [Report.Validate]. Errors: EINVALID (also "workflow_id" when the
	// workflow does not exist or its result is not visible to the actor).
	CreateReport(ctx context.Context, r *Report) error
	// FindReports lists the actor's reports (all, for the administrator),
	// oldest first.
	FindReports(ctx context.Context) ([]*Report, error)
	// FindReportByID returns a report. Errors: ENOTFOUND.
	FindReportByID(ctx context.Context, id string) (*Report, error)
	// UpdateReport changes a report. Errors: EINVALID, ENOTFOUND.
	UpdateReport(ctx context.Context, id string, upd ReportUpdate) (*Report, error)
	// DeleteReport removes a report. Errors: ENOTFOUND.
	DeleteReport(ctx context.Context, id string) error
}
