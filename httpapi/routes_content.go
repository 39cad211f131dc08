package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// registerContentRoutes registers the content half of the API: data
// sources (uploads streamed to the blob store), workflows with their
// policies and runs, and reports. docs/api.md documents each.
func (s *Server) registerContentRoutes() {
	s.handle("GET /api/datasources", true, s.handleFindDataSources)
	s.handle("POST /api/datasources", true, s.handleUploadDataSource)
	s.handle("POST /api/datasources/sql", true, s.handleCreateSQLDataSource)
	s.handle("GET /api/datasources/{id}", true, s.handleFindDataSource)
	s.handle("PATCH /api/datasources/{id}", true, s.handleUpdateDataSource)
	s.handle("DELETE /api/datasources/{id}", true, s.handleDeleteDataSource)
	s.handle("GET /api/datasources/{id}/content", true, s.handleDataSourceContent)

	s.handle("GET /api/workflows", true, s.handleFindWorkflows)
	s.handle("POST /api/workflows", true, s.handleCreateWorkflow)
	s.handle("GET /api/workflows/{id}", true, s.handleFindWorkflow)
	s.handle("PATCH /api/workflows/{id}", true, s.handleUpdateWorkflow)
	s.handle("DELETE /api/workflows/{id}", true, s.handleDeleteWorkflow)
	s.handle("PUT /api/workflows/{id}/policies/{policyID}", true, s.handleAttachPolicy)
	s.handle("DELETE /api/workflows/{id}/policies/{policyID}", true, s.handleDetachPolicy)
	s.handle("POST /api/workflows/{id}/runs", true, s.handleStartRun)
	s.handle("GET /api/workflows/{id}/runs", true, s.handleFindRuns)
	s.handle("GET /api/workflows/{id}/runs/{runID}/result", true, s.handleReadResult)

	s.handle("GET /api/reports", true, s.handleFindReports)
	s.handle("POST /api/reports", true, s.handleCreateReport)
	s.handle("GET /api/reports/{id}", true, s.handleFindReport)
	s.handle("PATCH /api/reports/{id}", true, s.handleUpdateReport)
	s.handle("DELETE /api/reports/{id}", true, s.handleDeleteReport)
}

// Limits of an upload's multipart form, besides the file itself.
const (
	maxUploadFieldBytes = 64 << 10 // one text field (name, description, format)
	maxUploadFields     = 16       // text parts before the file
	uploadOverhead      = 1 << 20  // headers, boundaries and fields around the file
)

// SQLDataSourceRequest is the body of POST /api/datasources/sql.
type SQLDataSourceRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Driver      string `json:"driver"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Database    string `json:"database"`
	User        string `json:"user"`
	Query       string `json:"query"`
	Password    string `json:"password"`
}

// WorkflowRequest is the body of POST /api/workflows.
type WorkflowRequest struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Graph       bitnobi.Graph `json:"graph"`
	Exportables []string      `json:"exportables"`
}

// ReportRequest is the body of POST /api/reports.
type ReportRequest struct {
	WorkflowID  string          `json:"workflow_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Charts      []bitnobi.Chart `json:"charts"`
}

func (s *Server) handleFindDataSources(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.DataSources.FindDataSources(r.Context())
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []*bitnobi.DataSource{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"datasources": ds})
	return nil
}

// handleUploadDataSource reads a multipart/form-data body a part at a
// time (never buffering it: r.MultipartReader, not ParseMultipartForm).
// The text fields name, description and format come first; the part named
// "file" is streamed to the data-source service as it arrives, and parts
// after it are not read.
func (s *Server) handleUploadDataSource(w http.ResponseWriter, r *http.Request) error {
	if s.MaxUploadBytes > 0 {
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxUploadBytes+uploadOverhead)
	}
	mr, err := r.MultipartReader()
	if errors.Is(err, http.ErrNotMultipart) {
		return bitnobi.Errorf(bitnobi.EUNSUPPORTED, "Send the upload as multipart/form-data: the fields name, description and format, then the file in a part named \"file\".")
	} else if err != nil {
		return bitnobi.Errorf(bitnobi.EINVALID, "Malformed multipart/form-data request: %v.", err)
	}
	ds := &bitnobi.DataSource{}
	for fields := 0; ; fields++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return bitnobi.Invalidf("file", "The upload has no part named \"file\".")
		} else if err != nil {
			return uploadError(err, s.MaxUploadBytes)
		}
		name := p.FormName()
		if name == "file" {
			ds.Filename = uploadFilename(p.FileName())
			if ds.Format == "" {
				ds.Format = formatOf(ds.Filename)
			}
			if ds.Format == "" {
				return bitnobi.Invalidf("format", "Give the format (csv or json), or a file name ending in .csv or .json.")
			}
			if ds.Name == "" {
				ds.Name = ds.Filename
			}
			err := s.DataSources.CreateFileDataSource(r.Context(), ds, &uploadReader{r: p, limit: s.MaxUploadBytes}, s.MaxUploadBytes)
			if err != nil {
				return err
			}
			s.JSON(w, http.StatusCreated, ds)
			return nil
		}
		if fields >= maxUploadFields {
			return bitnobi.Errorf(bitnobi.EINVALID, "Too many form fields before the file.")
		}
		var dst *string
		switch name {
		case "name":
			dst = &ds.Name
		case "description":
			dst = &ds.Description
		case "format":
			dst = &ds.Format
		default:
			return bitnobi.Invalidf(name, "Unknown form field %q: send name, description and format, then file.", name)
		}
		v, err := io.ReadAll(io.LimitReader(p, maxUploadFieldBytes+1))
		if err != nil {
			return uploadError(err, s.MaxUploadBytes)
		}
		if len(v) > maxUploadFieldBytes {
			return bitnobi.Invalidf(name, "Form field %q is over %d bytes.", name, maxUploadFieldBytes)
		}
		*dst = string(v)
	}
}

// UploadDataSource serves a data-source upload exactly as POST
// /api/datasources does, for a caller authenticated by other means (the web
// pages' session cookie): the actor must already be in r's context. It
// writes the same JSON answers, errors included.
func (s *Server) UploadDataSource(w http.ResponseWriter, r *http.Request) {
	if err := s.handleUploadDataSource(w, r); err != nil {
		s.Error(w, r, err)
	}
}

// uploadReader turns the errors of a request body being read into
// user-facing ones: ETOOLARGE for the body limit, EINVALID for a body that
// ends early or is not well-formed multipart.
type uploadReader struct {
	r     io.Reader
	limit int64
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && err != io.EOF {
		err = uploadError(err, u.limit)
	}
	return n, err
}

func uploadError(err error, limit int64) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return bitnobi.Errorf(bitnobi.ETOOLARGE, "The upload is over the limit of %d bytes.", limit)
	}
	return bitnobi.Errorf(bitnobi.EINVALID, "The upload was cut short or is not well-formed multipart/form-data: %v.", err)
}

// uploadFilename keeps only the last element of a client's file name,
// whichever separator it uses.
func uploadFilename(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "." || name == "/" {
		return ""
	}
	return name
}

// formatOf returns the data-source format a file name's extension implies.
func formatOf(filename string) string {
	switch strings.ToLower(path.Ext(filename)) {
	case ".csv":
		return bitnobi.FormatCSV
	case ".json":
		return bitnobi.FormatJSON
	}
	return ""
}

func (s *Server) handleCreateSQLDataSource(w http.ResponseWriter, r *http.Request) error {
	var req SQLDataSourceRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	ds := &bitnobi.DataSource{Name: req.Name, Description: req.Description, Driver: req.Driver, Host: req.Host,
		Port: req.Port, Database: req.Database, User: req.User, Query: req.Query}
	if err := s.DataSources.CreateSQLDataSource(r.Context(), ds, req.Password); err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, ds)
	return nil
}

func (s *Server) handleFindDataSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	ds, err := s.DataSources.FindDataSourceByID(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleUpdateDataSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	var upd bitnobi.DataSourceUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	ds, err := s.DataSources.UpdateDataSource(r.Context(), id, upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleDeleteDataSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.DataSources.DeleteDataSource(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleDataSourceContent streams a file data source's content as it was
// uploaded.
func (s *Server) handleDataSourceContent(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	rc, ds, err := s.DataSources.OpenDataSource(r.Context(), id)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", map[string]string{bitnobi.FormatCSV: "text/csv; charset=utf-8", bitnobi.FormatJSON: "application/json"}[ds.Format])
	h.Set("Content-Length", strconv.FormatInt(ds.Size, 10))
	h.Set("ETag", `"`+ds.BlobID+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	if ds.Filename != "" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ds.Filename}))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent; all that is left is to cut the body short.
		s.Logger.Warn("send data source content", "id", id, "err", err)
	}
	return nil
}

func (s *Server) handleFindWorkflows(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.Workflows.FindWorkflows(r.Context())
	if err != nil {
		return err
	}
	if ws == nil {
		ws = []*bitnobi.Workflow{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"workflows": ws})
	return nil
}

func (s *Server) handleCreateWorkflow(w http.ResponseWriter, r *http.Request) error {
	var req WorkflowRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	wf := &bitnobi.Workflow{Name: req.Name, Description: req.Description, Graph: req.Graph, Exportables: req.Exportables}
	if err := s.Workflows.CreateWorkflow(r.Context(), wf); err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, wf)
	return nil
}

func (s *Server) handleFindWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	wf, err := s.Workflows.FindWorkflowByID(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, wf)
	return nil
}

func (s *Server) handleUpdateWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	var upd bitnobi.WorkflowUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	wf, err := s.Workflows.UpdateWorkflow(r.Context(), id, upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, wf)
	return nil
}

func (s *Server) handleDeleteWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Workflows.DeleteWorkflow(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// workflowPolicyIDs returns the workflow and policy IDs of the path.
func workflowPolicyIDs(r *http.Request) (string, string, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return "", "", err
	}
	policyID, err := PathID(r, "policyID")
	return id, policyID, err
}

func (s *Server) handleAttachPolicy(w http.ResponseWriter, r *http.Request) error {
	id, policyID, err := workflowPolicyIDs(r)
	if err != nil {
		return err
	}
	if err := s.Workflows.AttachPolicy(r.Context(), id, policyID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleDetachPolicy(w http.ResponseWriter, r *http.Request) error {
	id, policyID, err := workflowPolicyIDs(r)
	if err != nil {
		return err
	}
	if err := s.Workflows.DetachPolicy(r.Context(), id, policyID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleStartRun(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	run, err := s.Workflows.StartRun(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, run)
	return nil
}

func (s *Server) handleFindRuns(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	runs, err := s.Workflows.FindRuns(r.Context(), id)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []*bitnobi.WorkflowRun{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"runs": runs})
	return nil
}

// handleReadResult streams a run's result (see sendResult): by default as
// one JSON object, {"run": {...}, "columns": [...], "rows": [[...], ...]},
// turning the stored JSON Lines into the rows array on the fly.
func (s *Server) handleReadResult(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	runID, err := PathID(r, "runID")
	if err != nil {
		return err
	}
	return s.sendResult(w, r, id, runID)
}

// jsonlToArray writes JSON Lines as the elements of a JSON array: every
// newline ending a line becomes a comma before the next one.
type jsonlToArray struct {
	w       io.Writer
	started bool // a value has been written
	pending bool // a line ended: a comma is due before more content
}

func (j *jsonlToArray) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		line, rest, nl := bytes.Cut(p, []byte{'\n'})
		if len(line) > 0 {
			if j.pending {
				if _, err := j.w.Write([]byte{','}); err != nil {
					return 0, err
				}
				j.pending = false
			}
			if _, err := j.w.Write(line); err != nil {
				return 0, err
			}
			j.started = true
		}
		if nl && j.started {
			j.pending = true
		}
		p = rest
	}
	return n, nil
}

func (s *Server) handleFindReports(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.Reports.FindReports(r.Context())
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []*bitnobi.Report{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"reports": rs})
	return nil
}

func (s *Server) handleCreateReport(w http.ResponseWriter, r *http.Request) error {
	var req ReportRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	rep := &bitnobi.Report{WorkflowID: req.WorkflowID, Name: req.Name, Description: req.Description, Charts: req.Charts}
	if err := s.Reports.CreateReport(r.Context(), rep); err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, rep)
	return nil
}

func (s *Server) handleFindReport(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	rep, err := s.Reports.FindReportByID(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) handleUpdateReport(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	var upd bitnobi.ReportUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	rep, err := s.Reports.UpdateReport(r.Context(), id, upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) handleDeleteReport(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Reports.DeleteReport(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
