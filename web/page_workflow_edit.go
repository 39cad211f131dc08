package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// The workflow editor keeps the graph being built in the form itself:
// every button (add an element, connect two, remove one, Apply, Save)
// posts the whole draft, the server changes it and draws the page again.
// Nothing is stored until Save; Apply shows the rows after an element
// through WorkflowService.Preview, which reads what a run would.

// elementType describes an element type in the editor's palette.
type elementType struct {
	Type, Label, Hint, Template string
	Kind                        string // "datasource", "workflow", "json" or "none": how its settings are edited
}

// elementTypes lists every element type a graph takes, in palette order.
var elementTypes = []elementType{
	{bitnobi.ElementImporter, "Importer: an uploaded file", "The data source to read.", "", "datasource"},
	{bitnobi.ElementSQL, "SQL: a SQL data source's query", "The SQL data source to query.", "", "datasource"},
	{bitnobi.ElementDatasource, "Datasource: another workflow's latest result", "The workflow whose latest result to read (yours, or shared with you).", "", "workflow"},
	{bitnobi.ElementWorkflow, "Workflow: run another workflow", "The workflow to run and read.", "", "workflow"},
	{bitnobi.ElementAuditLog, "Audit log (administrator)", `The audit log's entries as rows, all of them or those matching every filter given: {"since": "2026-01-01T00:00:00Z", "until": "", "actor": "ada", "action": "user.signin", "target_type": "workflow"}. Only a workflow an administrator owns reads it.`, `{}`, "json"},
	{bitnobi.ElementExternal, "External Data Source: a paired server's result", `A workflow's latest result on a paired remote server, read on behalf of this workflow's owner: {"remote_server_id": "...", "workflow_id": "..."} (the remote server as stored here, the workflow's ID on that server). That server's own policies decide, and only its exportable columns arrive.`, `{"remote_server_id": "", "workflow_id": ""}`, "json"},
	{bitnobi.ElementSelect, "Select: columns and rows", `Columns to keep (all when empty), in order, and conditions every kept row meets: {"columns": ["region", "amount"], "where": [{"column": "amount", "op": ">", "value": "5"}]}. Operators: = != < <= > >= like.`, `{"columns": [], "where": []}`, "json"},
	{bitnobi.ElementAlter, "Alter: rename and cast", `Renames, then casts (by the new names): {"rename": [{"from": "amt", "to": "amount"}], "cast": [{"column": "amount", "type": "float"}]}. Types: integer, float, string.`, `{"rename": [], "cast": []}`, "json"},
	{bitnobi.ElementGroup, "Group: group and aggregate", `Group by columns and aggregate: {"by": ["region"], "aggregates": [{"op": "sum", "column": "amount", "as": "total"}]}. Operations: count, sum, min, max, avg.`, `{"by": [], "aggregates": [{"op": "count"}]}`, "json"},
	{bitnobi.ElementJoin, "Join: two inputs on a column", `The column of each side to join on, and the kind of join: {"left": "id", "right": "user_id", "kind": "inner"} (kind: inner or left; {"on": "id"} when both sides name it alike). The first edge into the join is its left input.`, `{"left": "", "right": "", "kind": "inner"}`, "json"},
	{bitnobi.ElementUnion, "Union: two inputs one after the other", "Two inputs with the same columns; duplicates are kept. No settings.", "", "none"},
	{bitnobi.ElementPython, "Python: code over the rows", `{"code": "..."}: Python run over the rows, where the server runs Python.`, `{"code": ""}`, "json"},
	{bitnobi.ElementResult, "Result: the output", "Marks the output; a graph has exactly one. No settings.", "", "none"},
}

func typeInfo(t string) elementType {
	for _, et := range elementTypes {
		if et.Type == t {
			return et
		}
	}
	return elementType{Type: t, Label: t, Kind: "json"}
}

// elementView is one element of the draft as the editor shows it.
type elementView struct {
	Index                 int
	ID, Type, Label, Hint string
	Kind                  string
	DataSource, Workflow  string // the chosen ID, for those kinds
	Config                string // the settings as JSON, for kind "json"
	Err                   string
	Previewed             bool
}

// Field returns the form name of the element's field f.
func (e elementView) Field(f string) string { return fmt.Sprintf("el-%d-%s", e.Index, f) }

// option is one choice of a select.
type option struct{ ID, Name string }

// editorView is the data of the editor.
type editorView struct {
	ID          string // "" for a new workflow
	Elements    []elementView
	Edges       []bitnobi.Edge
	EdgesJSON   string
	Types       []elementType
	DataSources []option
	Workflows   []option
	Drawing     any
	Preview     *previewView
}

// previewView is the Apply table.
type previewView struct {
	ElementID, Type, Error string
	Columns                []string
	Rows                   [][]string
	ColumnsTotal           int
	More                   bool
}

func (s *Server) newWorkflowPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "New workflow", "workflows"
	g := bitnobi.Graph{
		Elements: []bitnobi.Element{{ID: "in", Type: bitnobi.ElementImporter}, {ID: "out", Type: bitnobi.ElementResult}},
		Edges:    []bitnobi.Edge{{From: "in", To: "out"}},
	}
	ev, err := s.editorOf(r, "", &g, nil)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "workflow_edit", v, ev)
	return nil
}

func (s *Server) editWorkflowPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	wf, err := s.Workflows.FindWorkflowByID(r.Context(), id)
	if err != nil {
		return err
	}
	if !v.User.IsAdmin && wf.OwnerID != v.User.ID {
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the workflow's owner or the administrator may edit it; its result is shared with you.")
	}
	v.Form.Values = map[string]string{"name": wf.Name, "description": wf.Description, "exportables": strings.Join(wf.Exportables, ", ")}
	ev, err := s.editorOf(r, id, &wf.Graph, nil)
	if err != nil {
		return err
	}
	v.Title, v.Section = "Edit "+wf.Name, "workflows"
	s.render(w, r, http.StatusOK, "workflow_edit", v, ev)
	return nil
}

// editorOf builds the editor's data for graph g; errs holds errors beside
// element fields.
func (s *Server) editorOf(r *http.Request, id string, g *bitnobi.Graph, errs map[string]string) (*editorView, error) {
	ev := &editorView{ID: id, Edges: g.Edges, Types: elementTypes}
	edges, err := json.Marshal(g.Edges)
	if err != nil {
		return nil, err
	}
	ev.EdgesJSON = string(edges)
	for i, el := range g.Elements {
		t := typeInfo(el.Type)
		e := elementView{Index: i, ID: el.ID, Type: el.Type, Label: t.Label, Hint: t.Hint, Kind: t.Kind}
		switch t.Kind {
		case "datasource":
			var c bitnobi.ImporterConfig
			_ = el.DecodeConfig(&c)
			e.DataSource = c.DataSourceID
		case "workflow":
			var c bitnobi.WorkflowRefConfig
			_ = el.DecodeConfig(&c)
			e.Workflow = c.WorkflowID
		case "json":
			e.Config = string(el.Config)
			if e.Config == "" {
				e.Config = t.Template
			}
		}
		e.Err = errs[e.Field("config")]
		ev.Elements = append(ev.Elements, e)
	}
	dss, err := s.DataSources.FindDataSources(r.Context())
	if err != nil {
		return nil, err
	}
	for _, ds := range dss {
		ev.DataSources = append(ev.DataSources, option{ds.ID, ds.Name + " (" + kindLabel(ds) + ")"})
	}
	wfs, err := s.Workflows.FindWorkflows(r.Context())
	if err != nil {
		return nil, err
	}
	for _, wf := range wfs {
		if wf.ID != id {
			ev.Workflows = append(ev.Workflows, option{wf.ID, wf.Name})
		}
	}
	ev.Drawing = drawGraph(g, "")
	return ev, nil
}

func kindLabel(ds *bitnobi.DataSource) string {
	if ds.Kind == bitnobi.DataSourceSQL {
		return "SQL"
	}
	return ds.Format
}

// readDraft reads the graph being edited from the posted form; errs gets
// an error beside each element whose settings are not JSON.
func readDraft(r *http.Request) (*bitnobi.Graph, map[string]string) {
	g := &bitnobi.Graph{Elements: []bitnobi.Element{}, Edges: []bitnobi.Edge{}}
	errs := map[string]string{}
	n, _ := strconv.Atoi(r.PostFormValue("elements"))
	n = min(max(n, 0), bitnobi.MaxGraphElements)
	for i := 0; i < n; i++ {
		f := func(name string) string { return r.PostFormValue(fmt.Sprintf("el-%d-%s", i, name)) }
		el := bitnobi.Element{ID: f("id"), Type: f("type")}
		var cfg any
		switch typeInfo(el.Type).Kind {
		case "datasource":
			if ds := f("datasource"); ds != "" {
				cfg = bitnobi.ImporterConfig{DataSourceID: ds}
			}
		case "workflow":
			if wf := f("workflow"); wf != "" {
				cfg = bitnobi.WorkflowRefConfig{WorkflowID: wf}
			}
		case "json":
			raw := strings.TrimSpace(f("config"))
			if raw != "" {
				if !json.Valid([]byte(raw)) {
					errs[fmt.Sprintf("el-%d-config", i)] = "These settings are not valid JSON: check the quotes, commas and brackets."
				}
				el.Config = json.RawMessage(raw)
			}
		}
		if cfg != nil {
			el.Config, _ = json.Marshal(cfg)
		}
		g.Elements = append(g.Elements, el)
	}
	_ = json.Unmarshal([]byte(r.PostFormValue("edges")), &g.Edges)
	return g, errs
}

// editWorkflow handles every button of the editor.
func (s *Server) editWorkflow(w http.ResponseWriter, r *http.Request, v *view) error {
	id := ""
	if r.PathValue("id") != "" {
		var err error
		if id, err = pathID(r); err != nil {
			return err
		}
	}
	v.Form.fill(r, "name", "description", "exportables", "new_type", "new_id", "edge_from", "edge_to")
	v.Title, v.Section = "New workflow", "workflows"
	if id != "" {
		v.Title = "Edit " + v.Form.Get("name")
	}
	g, errs := readDraft(r)
	action := r.PostFormValue("action")
	status := http.StatusOK
	var pv *previewView
	verb, arg, _ := strings.Cut(action, ":")
	switch verb {
	case "add":
		t := v.Form.Get("new_type")
		if typeInfo(t).Label == t {
			v.Form.Errors["new_type"] = "Choose the type of element to add."
			status = http.StatusBadRequest
			break
		}
		eid := strings.TrimSpace(v.Form.Get("new_id"))
		if eid == "" {
			eid = freeID(g, t)
		}
		if hasElement(g, eid) {
			v.Form.Errors["new_id"] = fmt.Sprintf("An element is already called %q.", eid)
			status = http.StatusBadRequest
			break
		}
		g.Elements = append(g.Elements, bitnobi.Element{ID: eid, Type: t})
		v.Form.Values["new_id"] = ""
	case "connect":
		from, to := v.Form.Get("edge_from"), v.Form.Get("edge_to")
		if from == "" || to == "" || from == to {
			v.Form.Errors["edge_to"] = "Choose two different elements: data flows from the first to the second."
			status = http.StatusBadRequest
			break
		}
		g.Edges = append(g.Edges, bitnobi.Edge{From: from, To: to})
	case "unedge":
		if i, err := strconv.Atoi(arg); err == nil && i >= 0 && i < len(g.Edges) {
			g.Edges = append(g.Edges[:i], g.Edges[i+1:]...)
		}
	case "remove":
		var els []bitnobi.Element
		for _, el := range g.Elements {
			if el.ID != arg {
				els = append(els, el)
			}
		}
		var eds []bitnobi.Edge
		for _, ed := range g.Edges {
			if ed.From != arg && ed.To != arg {
				eds = append(eds, ed)
			}
		}
		g.Elements, g.Edges = els, eds
	case "preview":
		if len(errs) > 0 {
			status = http.StatusBadRequest
			break
		}
		p, err := s.Workflows.Preview(r.Context(), bitnobi.PreviewRequest{WorkflowID: id, Graph: g, ElementID: arg})
		if err != nil {
			status = v.Form.fail(err)
			break
		}
		pv = &previewView{ElementID: arg, Type: elementTypeOf(g, arg), Error: p.Error, Columns: p.Columns, ColumnsTotal: p.ColumnsTotal, More: p.More}
		for _, row := range p.Rows {
			pv.Rows = append(pv.Rows, cells(row))
		}
	case "save":
		if len(errs) > 0 {
			status = http.StatusBadRequest
			break
		}
		name, desc := strings.TrimSpace(v.Form.Get("name")), v.Form.Get("description")
		exp := splitList(v.Form.Get("exportables"))
		var err error
		if id == "" {
			wf := &bitnobi.Workflow{Name: name, Description: desc, Graph: *g, Exportables: exp}
			if err = s.Workflows.CreateWorkflow(r.Context(), wf); err == nil {
				return s.redirect(w, r, "/workflows/"+wf.ID, "The workflow "+wf.Name+" is saved.")
			}
		} else {
			if _, err = s.Workflows.UpdateWorkflow(r.Context(), id, bitnobi.WorkflowUpdate{Name: &name, Description: &desc, Graph: g, Exportables: &exp}); err == nil {
				return s.redirect(w, r, "/workflows/"+id, "The workflow "+name+" is saved.")
			}
		}
		status = v.Form.fail(err, "name", "description", "exportables", "graph")
	}
	ev, err := s.editorOf(r, id, g, errs)
	if err != nil {
		return err
	}
	ev.Preview = pv
	if pv != nil {
		for i := range ev.Elements {
			ev.Elements[i].Previewed = ev.Elements[i].ID == pv.ElementID
		}
		ev.Drawing = drawGraph(g, pv.ElementID)
	}
	s.render(w, r, status, "workflow_edit", v, ev)
	return nil
}

func elementTypeOf(g *bitnobi.Graph, id string) string {
	for _, el := range g.Elements {
		if el.ID == id {
			return el.Type
		}
	}
	return ""
}

func hasElement(g *bitnobi.Graph, id string) bool { return elementTypeOf(g, id) != "" }

// freeID returns an element ID from typ not used in g: typ, typ2, typ3...
func freeID(g *bitnobi.Graph, typ string) string {
	id := typ
	for n := 2; hasElement(g, id); n++ {
		id = typ + strconv.Itoa(n)
	}
	return id
}

// splitList splits "a, b,c" into its non-empty, trimmed items.
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
