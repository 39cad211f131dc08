package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// registerReportPages registers the report list, create, edit and delete,
// and the report itself: its charts drawn from the latest result of its
// workflow, through ReportService.ReportData (the API's report data).
func (s *Server) registerReportPages() {
	s.handle("GET /reports", User, s.reportsPage)
	s.handle("GET /reports/new", User, s.newReportPage)
	s.handle("POST /reports/new", User, s.createReport)
	s.handle("GET /reports/{id}", User, s.reportPage)
	s.handle("GET /reports/{id}/edit", User, s.editReportPage)
	s.handle("POST /reports/{id}/edit", User, s.updateReport)
	s.handle("POST /reports/{id}/delete", User, s.deleteReport)
}

// reportRow is a report as the list shows it.
type reportRow struct {
	ID, Name, Workflow, Owner string
	Charts                    int
	Mine                      bool
	Updated                   time.Time
}

func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Reports", "reports"
	rs, err := s.Reports.FindReports(r.Context())
	if err != nil {
		return err
	}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return err
	}
	wfNames, err := s.workflowNames(r)
	if err != nil {
		return err
	}
	var rows []reportRow
	for _, rep := range rs {
		row := reportRow{ID: rep.ID, Name: rep.Name, Workflow: wfNames[rep.WorkflowID], Owner: names[rep.OwnerID], Charts: len(rep.Charts),
			Mine: rep.OwnerID == v.User.ID, Updated: rep.UpdatedAt}
		if row.Owner == "" {
			row.Owner = "another user"
		}
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "reports", v, rows)
	return nil
}

// workflowNames maps the IDs of the workflows the actor sees to names.
func (s *Server) workflowNames(r *http.Request) (map[string]string, error) {
	wfs, err := s.Workflows.FindWorkflows(r.Context())
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(wfs))
	for _, wf := range wfs {
		m[wf.ID] = wf.Name
	}
	return m, nil
}

// newReportView is the data of the create page.
type newReportView struct {
	Workflows []option
}

func (s *Server) newReportPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "New report", "reports"
	v.Form.Values["workflow_id"] = r.URL.Query().Get("workflow")
	return s.renderNewReport(w, r, v, http.StatusOK)
}

func (s *Server) renderNewReport(w http.ResponseWriter, r *http.Request, v *view, status int) error {
	wfs, err := s.Workflows.FindWorkflows(r.Context())
	if err != nil {
		return err
	}
	var nv newReportView
	for _, wf := range wfs {
		nv.Workflows = append(nv.Workflows, option{wf.ID, wf.Name})
	}
	s.render(w, r, status, "report_new", v, nv)
	return nil
}

func (s *Server) createReport(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "New report", "reports"
	v.Form.fill(r, "name", "description", "workflow_id")
	rep := &bitnobi.Report{Name: strings.TrimSpace(v.Form.Get("name")), Description: v.Form.Get("description"), WorkflowID: v.Form.Get("workflow_id"),
		Charts: []bitnobi.Chart{{Type: bitnobi.ChartTable, Title: "The result"}}}
	if err := s.Reports.CreateReport(r.Context(), rep); err != nil {
		return s.renderNewReport(w, r, v, v.Form.fail(err, "name", "description", "workflow_id"))
	}
	return s.redirect(w, r, "/reports/"+rep.ID+"/edit", "The report is created: add its charts.")
}

// reportView is a report's page.
type reportView struct {
	ID, Name, Description, WorkflowID, Workflow string
	Manage                                      bool
	NoData                                      string // why there is nothing to draw
	Charts                                      []chartView
	RunEnded                                    time.Time
}

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := s.Reports.FindReportByID(r.Context(), id)
	if err != nil {
		return err
	}
	rv := reportView{ID: rep.ID, Name: rep.Name, Description: rep.Description, WorkflowID: rep.WorkflowID,
		Manage: v.User.IsAdmin || rep.OwnerID == v.User.ID}
	wfNames, err := s.workflowNames(r)
	if err != nil {
		return err
	}
	rv.Workflow = wfNames[rep.WorkflowID]
	data, err := s.Reports.ReportData(r.Context(), id)
	switch code := bitnobi.ErrorCode(err); {
	case err == nil:
		rv.RunEnded = data.Run.EndedAt
		for i, c := range data.Charts {
			rv.Charts = append(rv.Charts, drawChart(i, c))
		}
	case code == bitnobi.ECONFLICT || code == bitnobi.ENOTFOUND || code == bitnobi.EFORBIDDEN:
		// No result yet, or the result is no longer readable by the
		// actor: the report is shown without data, saying why.
		rv.NoData = bitnobi.ErrorMessage(err)
	default:
		return err
	}
	v.Title, v.Section = rep.Name, "reports"
	s.render(w, r, http.StatusOK, "report", v, rv)
	return nil
}

// chartFormRow is one chart of the edit form.
type chartFormRow struct {
	Index, Number           int // Number counts from 1, for people
	Type, Title, X, Y, Text string
	New                     bool // the empty row that adds a chart
}

// Field returns the form name of the chart's field f.
func (c chartFormRow) Field(f string) string { return fmt.Sprintf("chart-%d-%s", c.Index, f) }

// reportEditView is the data of the edit page.
type reportEditView struct {
	ID, Workflow string
	Columns      []string // of the latest succeeded run, to pick from
	Charts       []chartFormRow
	Types        []string
}

var chartTypes = []string{bitnobi.ChartBar, bitnobi.ChartLine, bitnobi.ChartPie, bitnobi.ChartScatter, bitnobi.ChartTable, bitnobi.ChartText}

func (s *Server) editReportPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := s.Reports.FindReportByID(r.Context(), id)
	if err != nil {
		return err
	}
	if !v.User.IsAdmin && rep.OwnerID != v.User.ID {
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the report's owner or the administrator may edit it; the report is shared with you.")
	}
	v.Form.Values = map[string]string{"name": rep.Name, "description": rep.Description}
	return s.renderReportEdit(w, r, v, http.StatusOK, rep, rep.Charts)
}

func (s *Server) renderReportEdit(w http.ResponseWriter, r *http.Request, v *view, status int, rep *bitnobi.Report, charts []bitnobi.Chart) error {
	wfNames, err := s.workflowNames(r)
	if err != nil {
		return err
	}
	ev := reportEditView{ID: rep.ID, Workflow: wfNames[rep.WorkflowID], Types: chartTypes}
	for i, c := range charts {
		ev.Charts = append(ev.Charts, chartFormRow{Index: i, Number: i + 1, Type: c.Type, Title: c.Title, X: c.X, Y: strings.Join(c.Y, ", "), Text: c.Text})
	}
	ev.Charts = append(ev.Charts, chartFormRow{Index: len(charts), Number: len(charts) + 1, New: true})
	// The columns charts can name: those of the latest succeeded run
	// (the run list shows no data, only its shape).
	if runs, err := s.Workflows.FindRuns(r.Context(), rep.WorkflowID); err == nil {
		for _, run := range runs {
			if run.Status == bitnobi.RunSucceeded {
				ev.Columns = run.ResultColumns
				break
			}
		}
	}
	v.Title, v.Section = "Edit "+rep.Name, "reports"
	s.render(w, r, status, "report_edit", v, ev)
	return nil
}

// readCharts reads the charts of the edit form: rows marked for removal
// and the new-chart row without a type are left out.
func readCharts(r *http.Request) []bitnobi.Chart {
	n, _ := strconv.Atoi(r.PostFormValue("charts"))
	n = min(max(n, 0), bitnobi.MaxCharts+1)
	out := []bitnobi.Chart{}
	for i := 0; i < n; i++ {
		f := func(name string) string { return r.PostFormValue(fmt.Sprintf("chart-%d-%s", i, name)) }
		if f("type") == "" || f("remove") == "on" {
			continue
		}
		out = append(out, bitnobi.Chart{Type: f("type"), Title: strings.TrimSpace(f("title")), X: strings.TrimSpace(f("x")), Y: splitList(f("y")), Text: f("text")})
	}
	return out
}

func (s *Server) updateReport(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := s.Reports.FindReportByID(r.Context(), id)
	if err != nil {
		return err
	}
	v.Form.fill(r, "name", "description")
	name, desc := strings.TrimSpace(v.Form.Get("name")), v.Form.Get("description")
	charts := readCharts(r)
	if _, err := s.Reports.UpdateReport(r.Context(), id, bitnobi.ReportUpdate{Name: &name, Description: &desc, Charts: &charts}); err != nil {
		return s.renderReportEdit(w, r, v, v.Form.fail(err, "name", "description", "charts"), rep, charts)
	}
	return s.redirect(w, r, "/reports/"+id, "The report is saved.")
}

func (s *Server) deleteReport(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Reports.DeleteReport(r.Context(), id); err != nil {
		return err
	}
	return s.redirect(w, r, "/reports", "The report is deleted.")
}
