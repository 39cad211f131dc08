package store

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// ReportData returns a report with its charts' data, read from the latest
// succeeded run of its workflow through WorkflowService.ReadResult as the
// actor: the result's access rules (and what they hide) apply to the
// report as they do to a download, and the read is audited.
func (s *ReportService) ReportData(ctx context.Context, id string) (*bitnobi.ReportData, error) {
	r, err := s.FindReportByID(ctx, id)
	if err != nil {
		return nil, err
	}
	wfs := s.Workflows
	if wfs == nil {
		wfs = &WorkflowService{DB: s.DB}
	}
	run, rc, err := wfs.ReadResult(ctx, r.WorkflowID, "")
	if err != nil {
		return nil, err
	}
	rows := workflow.NewJSONLReader(ctx, run.ResultColumns, rc)
	defer rows.Close()
	var data [][]any
	more := false
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("report %s: read result: %w", id, err)
		}
		if len(data) == bitnobi.MaxChartRows {
			more = true
			break
		}
		data = append(data, row)
	}
	out := &bitnobi.ReportData{Report: r, Run: run, Charts: make([]bitnobi.ChartData, 0, len(r.Charts))}
	for _, c := range r.Charts {
		out.Charts = append(out.Charts, chartData(c, rows.Columns(), data, more))
	}
	return out, nil
}

// chartData draws chart c from the rows of a result with columns cols.
func chartData(c bitnobi.Chart, cols []string, rows [][]any, more bool) bitnobi.ChartData {
	d := bitnobi.ChartData{Chart: c}
	if c.Type == bitnobi.ChartText {
		return d
	}
	want := c.Y
	if c.X != "" {
		want = append([]string{c.X}, c.Y...)
	}
	if c.Type == bitnobi.ChartTable && len(want) == 0 {
		want = cols
	}
	idx := make([]int, len(want))
	for i, name := range want {
		if idx[i] = slices.Index(cols, name); idx[i] < 0 {
			d.Error = fmt.Sprintf("The result has no column %q (it has %s): edit the chart.", name, strings.Join(cols, ", "))
			return d
		}
	}
	d.More = more
	if c.Type == bitnobi.ChartTable {
		d.Columns = want
		d.Rows = make([][]any, len(rows))
		for r, row := range rows {
			d.Rows[r] = make([]any, len(idx))
			for i, j := range idx {
				d.Rows[r][i] = row[j]
			}
		}
		return d
	}
	d.Labels = make([]any, len(rows))
	for r, row := range rows {
		d.Labels[r] = row[idx[0]]
	}
	for i, name := range c.Y {
		s := bitnobi.Series{Name: name, Values: make([]any, len(rows))}
		for r, row := range rows {
			s.Values[r] = number(row[idx[i+1]])
		}
		d.Series = append(d.Series, s)
	}
	return d
}

// number returns v as a number for a chart: numbers as they are, text
// that parses as a number (an Importer's columns are text) as float64,
// anything else nil.
func number(v any) any {
	switch x := v.(type) {
	case int64, float64:
		return x
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
	return nil
}
