package web

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// registerDataSourcePages registers the data-source list, upload, page
// (with preview), download and delete.
func (s *Server) registerDataSourcePages() {
	s.handle("GET /datasources", User, s.dataSourcesPage)
	s.handle("GET /datasources/new", User, s.uploadPage)
	s.handle("POST /datasources/upload", User, s.upload)
	s.handle("GET /datasources/{id}", User, s.dataSourcePage)
	s.handle("GET /datasources/{id}/download", User, s.downloadDataSource)
	s.handle("POST /datasources/{id}/delete", User, s.deleteDataSource)
}

// dataSourceRow is a data source as the list shows it.
type dataSourceRow struct {
	ID, Name, Owner, Kind, Format string
	Size                          int64
	Created                       time.Time
}

// dataSourceList is the data of the list page.
type dataSourceList struct {
	Rows  []dataSourceRow
	Query listQuery
	Next  string // URL of the next page, "" on the last
	First string // URL of the first page, "" when on it
	Total int    // rows matching the filter
}

// ownerNames maps user IDs to usernames for the actor: every user for the
// administrator (FindUsers), else only the actor, who sees only their own.
func (s *Server) ownerNames(r *http.Request, v *view) (map[string]string, error) {
	names := map[string]string{v.User.ID: v.User.Username}
	if !v.User.IsAdmin {
		return names, nil
	}
	users, err := s.allUsers(r, v)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		names[u.ID] = u.Username
	}
	return names, nil
}

func (s *Server) dataSourcesPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Data sources", "datasources"
	lq := readListQuery(r.URL, "created", "name", "size", "owner")
	all, err := s.DataSources.FindDataSources(r.Context())
	if err != nil {
		return err
	}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return err
	}
	rows := make([]keyed[dataSourceRow], 0, len(all))
	for _, ds := range all {
		row := dataSourceRow{ID: ds.ID, Name: ds.Name, Owner: names[ds.OwnerID], Kind: ds.Kind, Format: ds.Format, Size: ds.Size, Created: ds.CreatedAt}
		if row.Kind == bitnobi.DataSourceSQL {
			row.Format = "SQL (" + ds.Driver + ")"
		}
		if !contains(lq.Q, row.Name, row.Owner, row.Format) {
			continue
		}
		var key string
		switch lq.Sort {
		case "name":
			key = sortKeyText(row.Name)
		case "size":
			key = sortKeyInt(row.Size)
		case "owner":
			key = sortKeyText(row.Owner)
		default:
			key = sortKeyTime(row.Created)
		}
		rows = append(rows, keyed[dataSourceRow]{key: key, id: ds.ID, row: row})
	}
	data := dataSourceList{Query: lq, Total: len(rows)}
	var next string
	data.Rows, next = keysetPage(rows, lq)
	if next != "" {
		data.Next = lq.URL("/datasources", next)
	}
	if lq.After != "" {
		data.First = lq.URL("/datasources", "")
	}
	s.render(w, r, http.StatusOK, "datasources", v, data)
	return nil
}

func (s *Server) uploadPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Upload a data source", "datasources"
	s.render(w, r, http.StatusOK, "datasource_new", v, nil)
	return nil
}

// upload streams a multipart upload through the API's upload handler (the
// CSRF token comes in the X-CSRF-Token header or the csrf query parameter,
// since the body is not parsed here). A script asking for JSON gets the
// API's answer as is; a plain form post is redirected to the new data
// source, or shown the upload page with the error beside its field.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, v *view) error {
	if s.Upload == nil {
		return bitnobi.Errorf(bitnobi.EUNSUPPORTED, "Uploads are not set up on this server.")
	}
	if wantsJSON(r) {
		s.Upload(w, r)
		return nil
	}
	rec := &recorder{header: http.Header{}}
	s.Upload(rec, r)
	var ans struct {
		ID      string `json:"id"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	}
	if err := json.Unmarshal(rec.body.Bytes(), &ans); err != nil {
		return fmt.Errorf("read upload answer %q: %w", rec.body.String(), err)
	}
	if rec.status == http.StatusCreated {
		return s.redirect(w, r, "/datasources/"+ans.ID, "The file is uploaded.")
	}
	v.Title, v.Section = "Upload a data source", "datasources"
	err := &bitnobi.Error{Code: ans.Code, Message: ans.Message, Field: ans.Field}
	s.render(w, r, v.Form.fail(err, "name", "description", "format", "file"), "datasource_new", v, nil)
	return nil
}

// recorder keeps a small answer (the upload's JSON) in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rc *recorder) Header() http.Header { return rc.header }
func (rc *recorder) WriteHeader(st int) {
	if rc.status == 0 {
		rc.status = st
	}
}
func (rc *recorder) Write(p []byte) (int, error) {
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	if rc.body.Len()+len(p) > 1<<20 {
		return 0, errors.New("web: upload answer over 1 MiB")
	}
	return rc.body.Write(p)
}

// dataSourceView is one data source's page.
type dataSourceView struct {
	ID, Name, Description, Owner, Kind, Format, Filename string
	Size                                                 int64
	Created                                              time.Time
	SQL                                                  string // "driver://user@host:port/database" for SQL sources
	Query                                                string
	PasswordSet                                          bool
	Preview                                              *preview
	PreviewError                                         string
}

// preview is the first rows and columns of a file.
type preview struct {
	Columns   []string
	Rows      [][]string
	More      bool // the file has more rows than shown
	MoreCols  bool // and more columns
	ShownRows int
}

// Preview limits.
const (
	previewRows = 20
	previewCols = 20
	previewCell = 200 // bytes of a cell
)

func (s *Server) dataSourcePage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ds, err := s.DataSources.FindDataSourceByID(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return err
	}
	v.Title, v.Section = ds.Name, "datasources"
	dv := dataSourceView{ID: ds.ID, Name: ds.Name, Description: ds.Description, Owner: names[ds.OwnerID], Kind: ds.Kind, Format: ds.Format,
		Filename: ds.Filename, Size: ds.Size, Created: ds.CreatedAt, PasswordSet: ds.PasswordSet}
	if ds.Kind == bitnobi.DataSourceSQL {
		dv.SQL = fmt.Sprintf("%s://%s@%s:%d/%s", ds.Driver, ds.User, ds.Host, ds.Port, ds.Database)
		dv.Query = ds.Query
	} else {
		// Opening is audited as an access, as the API's download is.
		rc, _, err := s.DataSources.OpenDataSource(r.Context(), id)
		if err != nil {
			return err
		}
		defer rc.Close()
		p, err := readPreview(rc, ds.Format)
		if err != nil {
			dv.PreviewError = bitnobi.ErrorMessage(err)
			if bitnobi.ErrorCode(err) == bitnobi.EINTERNAL {
				s.Logger.Warn("data source preview", "id", id, "err", err)
				dv.PreviewError = "The file could not be read as " + strings.ToUpper(ds.Format) + "."
			}
		}
		dv.Preview = p
	}
	s.render(w, r, http.StatusOK, "datasource", v, dv)
	return nil
}

// readPreview reads the first rows of a CSV or JSON file.
func readPreview(r io.Reader, format string) (*preview, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if format == bitnobi.FormatJSON {
		return jsonPreview(br)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	head, err := cr.Read()
	if err == io.EOF {
		return &preview{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	p := &preview{}
	p.Columns, p.MoreCols = clip(head)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return p, fmt.Errorf("read CSV: %w", err)
		}
		if len(p.Rows) == previewRows {
			p.More = true
			break
		}
		row, more := clip(rec)
		p.MoreCols = p.MoreCols || more
		p.Rows = append(p.Rows, row)
	}
	p.ShownRows = len(p.Rows)
	return p, nil
}

// clip cuts a record to previewCols cells of previewCell bytes.
func clip(rec []string) ([]string, bool) {
	more := len(rec) > previewCols
	rec = slices.Clone(rec[:min(len(rec), previewCols)])
	for i, c := range rec {
		if len(c) > previewCell {
			rec[i] = strings.ToValidUTF8(c[:previewCell], "") + "…"
		}
	}
	return rec, more
}

// jsonPreview reads the first objects of a JSON array, token by token (the
// file may be large); the columns are the keys in order of appearance.
func jsonPreview(r io.Reader) (*preview, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("read JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "The file is not a JSON array of objects.")
	}
	p := &preview{}
	var objs []map[string]any
	for dec.More() {
		if len(objs) == previewRows {
			p.More = true
			break
		}
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("read JSON: %w", err)
		}
		for k := range o {
			if !slices.Contains(p.Columns, k) {
				p.Columns = append(p.Columns, k)
			}
		}
		objs = append(objs, o)
	}
	// Keys of a map come in random order: sort for a stable table.
	slices.Sort(p.Columns)
	p.Columns, p.MoreCols = clip(p.Columns)
	for _, o := range objs {
		row := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			switch x := o[c].(type) {
			case nil:
			case string:
				row[i] = x
			default:
				b, _ := json.Marshal(x)
				row[i] = string(b)
			}
		}
		row, _ = clip(row)
		p.Rows = append(p.Rows, row)
	}
	p.ShownRows = len(p.Rows)
	return p, nil
}

func (s *Server) downloadDataSource(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rc, ds, err := s.DataSources.OpenDataSource(r.Context(), id)
	if err != nil {
		return err
	}
	defer rc.Close()
	ct := "text/csv; charset=utf-8"
	if ds.Format == bitnobi.FormatJSON {
		ct = "application/json"
	}
	name := ds.Filename
	if name == "" {
		name = ds.Name + "." + ds.Format
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Content-Length", fmt.Sprint(ds.Size))
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Debug("download", "id", id, "err", err)
	}
	return nil
}

func (s *Server) deleteDataSource(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.DataSources.DeleteDataSource(r.Context(), id); err != nil {
		return err
	}
	return s.redirect(w, r, "/datasources", "The data source is deleted.")
}

// pathID returns the {id} path value after checking it looks like an ID.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !bitnobi.ValidID(id) {
		return "", bitnobi.Errorf(bitnobi.ENOTFOUND, "There is no page at %s.", r.URL.Path)
	}
	return id, nil
}
