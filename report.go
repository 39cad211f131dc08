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
	ChartText    = "text" // a text box: [Chart.Text], no columns
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
// Y, or every column when both are empty. A text box shows Text.
type Chart struct {
	Type  string   `json:"type"` // ChartBar, ChartLine, ChartPie, ChartTable, ChartScatter or ChartText
	Title string   `json:"title"`
	X     string   `json:"x"`
	Y     []string `json:"y"`
	Text  string   `json:"text,omitempty"` // ChartText only
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
		case ChartText:
			if c.X != "" || len(c.Y) > 0 {
				return Invalidf("charts", "Chart %d (text) takes no x or y columns, only text.", n)
			}
			if len(c.Text) > MaxDescriptionLen {
				return Invalidf("charts", "Chart %d (text): a text has at most %d bytes.", n, MaxDescriptionLen)
			}
		default:
			return Invalidf("charts", "Chart %d: type %q is not bar, line, pie, table, scatter or text.", n, c.Type)
		}
		if c.Type != ChartText && c.Text != "" {
			return Invalidf("charts", "Chart %d (%s): only a text chart has a text.", n, c.Type)
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

// MaxChartRows is the most result rows a chart of [ReportData] draws.
const MaxChartRows = 1000

// ReportData is what a report draws: each chart's data, taken from the
// latest succeeded result of the report's workflow.
type ReportData struct {
	Report *Report      `json:"report"`
	Run    *WorkflowRun `json:"run"`
	Charts []ChartData  `json:"charts"`
}

// ChartData is one chart with its data. For bar, line, pie and scatter
// charts, Labels holds the X value of each of the first [MaxChartRows]
// rows and Series one list of values per Y column (numbers, or null where
// a value is not a number). A table has Columns and Rows instead; a text
// box has neither.
type ChartData struct {
	Chart
	Labels  []any    `json:"labels,omitempty"`
	Series  []Series `json:"series,omitempty"`
	Columns []string `json:"columns,omitempty"`
	Rows    [][]any  `json:"rows,omitempty"`
	// More says that the result has more rows than the chart draws.
	More bool `json:"more,omitempty"`
	// Error says why the chart cannot be drawn (a column the result does
	// not have, or may not be shown); the chart has no data then.
	Error string `json:"error,omitempty"`
}

// Series is the values of one Y column of a chart.
type Series struct {
	Name   string `json:"name"`
	Values []any  `json:"values"`
}

// ReportService manages reports. The actor comes from the context.
//
// Access: the owner and the administrator manage a report. A report whose
// owner also owns its workflow is shared with the workflow's result: every
// user an attached policy of the workflow matches may see it (read only;
// managing it is EFORBIDDEN). Other reports are private to their owner.
// Every other user gets ENOTFOUND. Creating one requires the workflow's
// result to be visible to the actor (see [WorkflowService]).
type ReportService interface {
	// CreateReport stores r with the actor as owner, after
	// [Report.Validate]. Errors: EINVALID (also "workflow_id" when the
	// workflow does not exist or its result is not visible to the actor).
	CreateReport(ctx context.Context, r *Report) error
	// FindReports lists the reports the actor may see (all, for the
	// administrator), oldest first.
	FindReports(ctx context.Context) ([]*Report, error)
	// FindReportByID returns a report. Errors: ENOTFOUND.
	FindReportByID(ctx context.Context, id string) (*Report, error)
	// UpdateReport changes a report. Errors: EINVALID, ENOTFOUND,
	// EFORBIDDEN.
	UpdateReport(ctx context.Context, id string, upd ReportUpdate) (*Report, error)
	// DeleteReport removes a report. Errors: ENOTFOUND, EFORBIDDEN.
	DeleteReport(ctx context.Context, id string) error
	// ReportData returns a report the actor may see with its charts'
	// data, read as the actor through [WorkflowService.ReadResult] from
	// the latest succeeded run of the report's workflow, so that the
	// result's own access rules apply (and the read is audited).
	// Errors: ENOTFOUND (also when the actor may no longer read the
	// result), ECONFLICT (the workflow has no succeeded run).
	ReportData(ctx context.Context, id string) (*ReportData, error)
}
