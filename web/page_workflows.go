package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// registerWorkflowPages registers the workflow list, the editor (with
// Apply, the preview after any element), the workflow's page (runs, run,
// the policies padlock, delete) and its result as a paged table with CSV
// and JSON downloads.
func (s *Server) registerWorkflowPages() {
	s.handle("GET /workflows", User, s.workflowsPage)
	s.handle("GET /workflows/new", User, s.newWorkflowPage)
	s.handle("POST /workflows/new", User, s.editWorkflow)
	s.handle("GET /workflows/{id}", User, s.workflowPage)
	s.handle("GET /workflows/{id}/edit", User, s.editWorkflowPage)
	s.handle("POST /workflows/{id}/edit", User, s.editWorkflow)
	s.handle("POST /workflows/{id}/run", User, s.runWorkflow)
	s.handle("POST /workflows/{id}/policies", User, s.attachWorkflowPolicy)
	s.handle("POST /workflows/{id}/policies/{policyID}/detach", User, s.detachWorkflowPolicy)
	s.handle("POST /workflows/{id}/delete", User, s.deleteWorkflow)
	s.handle("GET /workflows/{id}/result", User, s.resultPage)
	s.handle("GET /workflows/{id}/result.csv", User, s.downloadResult)
	s.handle("GET /workflows/{id}/result.json", User, s.downloadResult)
}

// workflowRow is a workflow as the list shows it.
type workflowRow struct {
	ID, Name, Description, Owner string
	Shared                       bool // shared with the actor by a policy, not theirs
	Policies                     int
	Updated                      time.Time
}

// workflowList is the data of the list page.
type workflowList struct {
	Rows        []workflowRow
	Query       listQuery
	Next, First string
	Total       int
}

func (s *Server) workflowsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Workflows", "workflows"
	lq := readListQuery(r.URL, "updated", "name", "owner")
	all, err := s.Workflows.FindWorkflows(r.Context())
	if err != nil {
		return err
	}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return err
	}
	rows := make([]keyed[workflowRow], 0, len(all))
	for _, wf := range all {
		row := workflowRow{ID: wf.ID, Name: wf.Name, Description: wf.Description, Owner: names[wf.OwnerID],
			Shared: wf.OwnerID != v.User.ID && !v.User.IsAdmin, Policies: len(wf.PolicyIDs), Updated: wf.UpdatedAt}
		if row.Owner == "" {
			row.Owner = "another user"
		}
		if !contains(lq.Q, row.Name, row.Owner, row.Description) {
			continue
		}
		var key string
		switch lq.Sort {
		case "name":
			key = sortKeyText(row.Name)
		case "owner":
			key = sortKeyText(row.Owner)
		default:
			key = sortKeyTime(row.Updated)
		}
		rows = append(rows, keyed[workflowRow]{key: key, id: wf.ID, row: row})
	}
	data := workflowList{Query: lq, Total: len(rows)}
	var next string
	data.Rows, next = keysetPage(rows, lq)
	if next != "" {
		data.Next = lq.URL("/workflows", next)
	}
	if lq.After != "" {
		data.First = lq.URL("/workflows", "")
	}
	s.render(w, r, http.StatusOK, "workflows", v, data)
	return nil
}

// workflowView is a workflow's page.
type workflowView struct {
	ID, Name, Description, Owner string
	Exportables                  []string
	Manage                       bool // the actor may change it (owner or administrator)
	HasResult                    bool // a run has succeeded
	Drawing                      any  // the graph as SVG (template.HTML)
	Runs                         []runRow
	Attached                     []policyRef
	Attachable                   []policyRef
	Updated                      time.Time
}

// runRow is one run as the page lists it.
type runRow struct {
	ID, Status, Error string
	Rows              int64
	Started, Ended    time.Time
}

// policyRef names a policy.
type policyRef struct {
	ID, Name, Pairs string
}

func (s *Server) workflowPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	wf, err := s.Workflows.FindWorkflowByID(r.Context(), id)
	if err != nil {
		return err
	}
	runs, err := s.Workflows.FindRuns(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return err
	}
	wv := workflowView{ID: wf.ID, Name: wf.Name, Description: wf.Description, Owner: names[wf.OwnerID], Exportables: wf.Exportables,
		Manage: v.User.IsAdmin || wf.OwnerID == v.User.ID, Updated: wf.UpdatedAt}
	if wv.Owner == "" {
		wv.Owner = "another user"
	}
	for _, run := range runs {
		wv.HasResult = wv.HasResult || run.Status == bitnobi.RunSucceeded
		wv.Runs = append(wv.Runs, runRow{ID: run.ID, Status: run.Status, Error: run.Error, Rows: run.ResultRows, Started: run.StartedAt, Ended: run.EndedAt})
	}
	if wv.Manage {
		wv.Drawing = drawGraph(&wf.Graph, "")
		ps, err := s.Policies.FindPolicies(r.Context())
		if err != nil {
			return err
		}
		for _, p := range ps {
			ref := policyRef{ID: p.ID, Name: p.Name, Pairs: pairsText(p.Attributes)}
			if slices.Contains(wf.PolicyIDs, p.ID) {
				wv.Attached = append(wv.Attached, ref)
			} else if p.Global || p.OwnerID == wf.OwnerID {
				wv.Attachable = append(wv.Attachable, ref)
			}
		}
		// Attached policies the actor cannot list (the administrator
		// lists all, so this is for completeness): name them by ID.
		for _, pid := range wf.PolicyIDs {
			if !slices.ContainsFunc(wv.Attached, func(p policyRef) bool { return p.ID == pid }) {
				wv.Attached = append(wv.Attached, policyRef{ID: pid, Name: pid})
			}
		}
	}
	v.Title, v.Section = wf.Name, "workflows"
	s.render(w, r, http.StatusOK, "workflow", v, wv)
	return nil
}

// pairsText renders attribute pairs as "a=b, c=d".
func pairsText(m map[string]string) string {
	var parts []string
	for _, a := range attrs(m) {
		parts = append(parts, a.Key+"="+a.Value)
	}
	return strings.Join(parts, ", ")
}

func (s *Server) runWorkflow(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	run, err := s.Workflows.StartRun(r.Context(), id)
	if err != nil {
		return err
	}
	if run.Status != bitnobi.RunSucceeded {
		return s.redirect(w, r, "/workflows/"+id, "The run failed: "+run.Error)
	}
	return s.redirect(w, r, "/workflows/"+id+"/result?run="+run.ID, fmt.Sprintf("The run succeeded: %d rows.", run.ResultRows))
}

func (s *Server) attachWorkflowPolicy(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	pid := r.PostFormValue("policy")
	if !bitnobi.ValidID(pid) {
		return bitnobi.Invalidf("policy", "Choose a policy to attach.")
	}
	if err := s.Workflows.AttachPolicy(r.Context(), id, pid); err != nil {
		return err
	}
	return s.redirect(w, r, "/workflows/"+id+"#policies", "The policy is attached: the users it matches see the result.")
}

func (s *Server) detachWorkflowPolicy(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	pid := r.PathValue("policyID")
	if !bitnobi.ValidID(pid) {
		return bitnobi.Errorf(bitnobi.ENOTFOUND, "There is no page at %s.", r.URL.Path)
	}
	if err := s.Workflows.DetachPolicy(r.Context(), id, pid); err != nil {
		return err
	}
	return s.redirect(w, r, "/workflows/"+id+"#policies", "The policy is detached.")
}

func (s *Server) deleteWorkflow(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Workflows.DeleteWorkflow(r.Context(), id); err != nil {
		return err
	}
	return s.redirect(w, r, "/workflows", "The workflow is deleted.")
}

// resultPageRows is how many rows a result page shows.
const resultPageRows = 50

// resultView is the data of the result page.
type resultView struct {
	WorkflowID, WorkflowName, RunID string
	Columns                         []string
	Rows                            [][]string
	Total                           int64
	From, To                        int64 // 1-based rows shown
	Prev, Next                      string
	Ended                           time.Time
	CSV, JSON                       string
}

// resultLocation reads which run a result page or download is of: ?run=ID,
// or "" for the latest succeeded run.
func resultLocation(r *http.Request) (id, runID string, err error) {
	if id, err = pathID(r); err != nil {
		return "", "", err
	}
	runID = r.URL.Query().Get("run")
	if runID != "" && !bitnobi.ValidID(runID) {
		return "", "", bitnobi.Errorf(bitnobi.ENOTFOUND, "No such run.")
	}
	return id, runID, nil
}

func (s *Server) resultPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, runID, err := resultLocation(r)
	if err != nil {
		return err
	}
	page, _ := strconv.ParseInt(r.URL.Query().Get("page"), 10, 64)
	page = max(page, 1)
	wf, err := s.Workflows.FindWorkflowByID(r.Context(), id)
	if err != nil {
		return err
	}
	run, rc, err := s.Workflows.ReadResult(r.Context(), id, runID)
	if err != nil {
		return err
	}
	rows := workflow.NewJSONLReader(r.Context(), run.ResultColumns, rc)
	defer rows.Close()
	rv := resultView{WorkflowID: id, WorkflowName: wf.Name, RunID: run.ID, Columns: run.ResultColumns, Total: run.ResultRows, Ended: run.EndedAt}
	offset := (page - 1) * resultPageRows
	for i := int64(0); i < offset+resultPageRows; i++ {
		row, err := rows.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("read result of run %s: %w", run.ID, err)
		}
		if i >= offset {
			rv.Rows = append(rv.Rows, cells(row))
		}
	}
	rv.From, rv.To = offset+1, offset+int64(len(rv.Rows))
	base := "/workflows/" + id + "/result?run=" + run.ID
	if page > 1 {
		rv.Prev = base + "&page=" + strconv.FormatInt(page-1, 10)
	}
	if rv.To < rv.Total {
		rv.Next = base + "&page=" + strconv.FormatInt(page+1, 10)
	}
	rv.CSV = "/workflows/" + id + "/result.csv?run=" + run.ID
	rv.JSON = "/workflows/" + id + "/result.json?run=" + run.ID
	v.Title, v.Section = "Result of "+wf.Name, "workflows"
	s.render(w, r, http.StatusOK, "result", v, rv)
	return nil
}

// cells formats a row's values as the table shows them; null is empty.
func cells(row []any) []string {
	out := make([]string, len(row))
	for i, x := range row {
		out[i] = cellText(x)
	}
	return out
}

func cellText(x any) string {
	switch x := x.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return ""
}

// downloadResult sends a run's whole result as CSV or JSON, read through
// the same ReadResult the API's download uses (and audited by it).
func (s *Server) downloadResult(w http.ResponseWriter, r *http.Request, v *view) error {
	id, runID, err := resultLocation(r)
	if err != nil {
		return err
	}
	run, rc, err := s.Workflows.ReadResult(r.Context(), id, runID)
	if err != nil {
		return err
	}
	rows := workflow.NewJSONLReader(r.Context(), run.ResultColumns, rc)
	defer rows.Close()
	asCSV := strings.HasSuffix(r.URL.Path, ".csv")
	h := w.Header()
	name := "result-" + run.ID + ".json"
	h.Set("Content-Type", "application/json")
	if asCSV {
		name = "result-" + run.ID + ".csv"
		h.Set("Content-Type", "text/csv; charset=utf-8")
	}
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if asCSV {
		err = workflow.WriteCSV(w, rows)
	} else {
		err = writeResultJSON(w, rows)
	}
	if err != nil {
		s.Logger.Warn("download result", "workflow_id", id, "run_id", run.ID, "err", err)
	}
	return nil
}

// writeResultJSON writes {"columns": [...], "rows": [[...], ...]}.
func writeResultJSON(w io.Writer, rows workflow.Rows) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	cols, err := json.Marshal(rows.Columns())
	if err != nil {
		return err
	}
	bw.WriteString(`{"columns":`)
	bw.Write(cols)
	bw.WriteString(`,"rows":[`)
	var buf []byte
	for n := 0; ; n++ {
		row, err := rows.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		buf = buf[:0]
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = workflow.AppendJSONRow(buf, row)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}
