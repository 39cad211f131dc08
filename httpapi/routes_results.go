package httpapi

import (
	"bufio"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// registerResultRoutes registers what reads data out of workflows without
// storing anything: previews, a workflow's latest result, and report data.
// docs/api.md documents each.
func (s *Server) registerResultRoutes() {
	s.handle("POST /api/workflows/preview", true, s.handlePreview)
	s.handle("POST /api/workflows/{id}/preview", true, s.handlePreview)
	s.handle("GET /api/workflows/{id}/result", true, s.handleReadLatestResult)
	s.handle("GET /api/reports/{id}/data", true, s.handleReportData)
}

// PreviewRequest is the body of POST /api/workflows/preview and
// POST /api/workflows/{id}/preview.
type PreviewRequest struct {
	// ElementID is the element whose output is shown.
	ElementID string `json:"element_id"`
	// Graph is the graph to preview; for a saved workflow it may be left
	// out, to preview the saved graph.
	Graph *bitnobi.Graph `json:"graph"`
	// Rows is how many rows to show (default 20, at most 500).
	Rows int `json:"rows"`
}

func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) error {
	req := bitnobi.PreviewRequest{}
	if r.PathValue("id") != "" {
		id, err := PathID(r, "id")
		if err != nil {
			return err
		}
		req.WorkflowID = id
	}
	var body PreviewRequest
	if err := s.Decode(w, r, &body); err != nil {
		return err
	}
	req.ElementID, req.Graph, req.Rows = body.ElementID, body.Graph, body.Rows
	p, err := s.Workflows.Preview(r.Context(), req)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, p)
	return nil
}

// handleReadLatestResult is handleReadResult for the latest succeeded run.
func (s *Server) handleReadLatestResult(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	return s.sendResult(w, r, id, "")
}

func (s *Server) handleReportData(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	d, err := s.Reports.ReportData(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, d)
	return nil
}

// resultQuery is what the query string of a result read asks for.
type resultQuery struct {
	format        string // "json" or "csv"
	offset, limit int64  // limit < 0: to the end
}

func parseResultQuery(r *http.Request) (resultQuery, error) {
	q := resultQuery{format: "json", limit: -1}
	v := r.URL.Query()
	switch f := v.Get("format"); f {
	case "", "json":
	case "csv":
		q.format = "csv"
	default:
		return q, bitnobi.Invalidf("format", "format must be json or csv, not %q.", f)
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"offset", &q.offset}, {"limit", &q.limit}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, bitnobi.Invalidf(p.name, "%s must be a whole number of rows, 0 or more, not %q.", p.name, s)
			}
			*p.dst = n
		}
	}
	return q, nil
}

// sendResult reads a run's result (the latest succeeded one when runID is
// "") through WorkflowService.ReadResult and sends it as the query asks:
// JSON ({"run", "columns", "rows"}) or CSV (a header line, then the rows),
// the whole of it or a page of rows.
func (s *Server) sendResult(w http.ResponseWriter, r *http.Request, workflowID, runID string) error {
	q, err := parseResultQuery(r)
	if err != nil {
		return err
	}
	run, rc, err := s.Workflows.ReadResult(r.Context(), workflowID, runID)
	if err != nil {
		return err
	}
	defer rc.Close()
	if q.format == "csv" {
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "result-" + run.ID + ".csv"}))
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		rows := workflow.Window(workflow.NewJSONLReader(r.Context(), run.ResultColumns, rc), q.offset, q.limit)
		if err := workflow.WriteCSV(w, rows); err != nil {
			s.Logger.Warn("send workflow result", "workflow_id", workflowID, "run_id", run.ID, "err", err)
		}
		return nil
	}
	head, err := json.Marshal(map[string]any{"run": run, "columns": run.ResultColumns})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	// {"columns":[...],"run":{...}} becomes {"columns":[...],"run":{...},"rows":[ ... ]}
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"rows":[`)
	if q.offset == 0 && q.limit < 0 {
		_, err = io.Copy(&jsonlToArray{w: bw}, rc)
	} else {
		err = writeRowsPage(bw, workflow.Window(workflow.NewJSONLReader(r.Context(), run.ResultColumns, rc), q.offset, q.limit))
	}
	if err != nil {
		s.Logger.Warn("send workflow result", "workflow_id", workflowID, "run_id", run.ID, "err", err)
		return nil // the status is sent: the client sees a cut-off body
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		s.Logger.Debug("send workflow result", "err", err)
	}
	return nil
}

// writeRowsPage writes rows as the elements of a JSON array.
func writeRowsPage(w io.Writer, rows workflow.Rows) error {
	var buf []byte
	for n := 0; ; n++ {
		row, err := rows.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		buf = buf[:0]
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = workflow.AppendJSONRow(buf, row)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
}
