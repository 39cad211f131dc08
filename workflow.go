package bitnobi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Workflow is a graph of elements that starts from data sources, shapes
// the data, and ends in one Result element. Its result set is shared with
// the users matched by the policies attached to it.
type Workflow struct {
	ID          string `json:"id"`
	OwnerID     string `json:"owner_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Graph       Graph  `json:"graph"`
	// PolicyIDs lists the attached policies, in the order they were
	// attached. It is read-only here: attach and detach policies with
	// [WorkflowService.AttachPolicy] and [WorkflowService.DetachPolicy].
	PolicyIDs []string `json:"policy_ids"`
	// Exportables names the result columns users of the result may export.
	Exportables []string  `json:"exportables"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Validate checks the fields a user sets. It returns an EINVALID error
// naming the first bad field ("name", "description", "graph",
// "exportables").
func (w *Workflow) Validate() error {
	if err := validateName(w.Name); err != nil {
		return err
	}
	if err := validateDescription(w.Description); err != nil {
		return err
	}
	if err := w.Graph.Validate(); err != nil {
		return err
	}
	return validateExportables(w.Exportables)
}

func validateExportables(cols []string) error {
	if len(cols) > maxColumns {
		return Invalidf("exportables", "At most %d exportable columns.", maxColumns)
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if msg := checkColumnName(c); msg != "" {
			return Invalidf("exportables", "Exportable column %q: %s", c, msg)
		}
		if seen[c] {
			return Invalidf("exportables", "Exportable column %q is listed twice.", c)
		}
		seen[c] = true
	}
	return nil
}

// WorkflowUpdate holds the fields an update may change; nil means unchanged.
type WorkflowUpdate struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Graph       *Graph    `json:"graph"`
	Exportables *[]string `json:"exportables"`
}

// Workflow run statuses.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
)

// WorkflowRun is one run of a workflow and, when it succeeded, its result
// set: ResultRows rows of ResultColumns, stored as a blob of JSON Lines
// (one JSON array of values per row, in column order).
type WorkflowRun struct {
	ID            string    `json:"id"`
	WorkflowID    string    `json:"workflow_id"`
	StartedBy     string    `json:"started_by"`
	Status        string    `json:"status"`          // RunRunning, RunSucceeded or RunFailed
	Progress      float64   `json:"progress"`        // 0 to 1
	Error         string    `json:"error,omitempty"` // why a failed run failed
	ResultColumns []string  `json:"result_columns"`
	ResultRows    int64     `json:"result_rows"`
	ResultBlobID  string    `json:"result_blob_id,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at,omitzero"` // zero while running
}

// WorkflowService manages workflows, their policies and their runs. The
// actor comes from the context.
//
// Access: the owner and the administrator manage a workflow (update,
// delete, attach and detach policies, start runs). Its result (the
// workflow's name, description and exportables, its runs and their result
// rows) is also visible to every user matched by an attached policy
// ([Policy.Matches] on the actor's attributes); such users see the
// workflow without its graph and policy list, and get EFORBIDDEN when they
// try to manage it. Every other user gets ENOTFOUND, so that the
// workflow's existence does not leak.
type WorkflowService interface {
	// CreateWorkflow stores w with the actor as owner, after
	// [Workflow.Validate]. Errors: EINVALID.
	CreateWorkflow(ctx context.Context, w *Workflow) error
	// FindWorkflows lists the workflows the actor may see: their own,
	// those shared with them by a policy, and all of them for the
	// administrator; oldest first.
	FindWorkflows(ctx context.Context) ([]*Workflow, error)
	// FindWorkflowByID returns a workflow the actor may see.
	// Errors: ENOTFOUND.
	FindWorkflowByID(ctx context.Context, id string) (*Workflow, error)
	// UpdateWorkflow changes a workflow. Errors: EINVALID, ENOTFOUND,
	// EFORBIDDEN.
	UpdateWorkflow(ctx context.Context, id string, upd WorkflowUpdate) (*Workflow, error)
	// DeleteWorkflow removes a workflow, its runs and the reports over it.
	// Result blobs stay until the garbage collector finds them
	// unreferenced. Errors: ENOTFOUND, EFORBIDDEN.
	DeleteWorkflow(ctx context.Context, id string) error
	// AttachPolicy attaches a policy to a workflow. The policy must be
	// visible to the workflow's owner (theirs, or global); otherwise it is
	// ENOTFOUND. Attaching an attached policy changes nothing and
	// succeeds. Errors: ENOTFOUND, EFORBIDDEN.
	AttachPolicy(ctx context.Context, workflowID, policyID string) error
	// DetachPolicy detaches a policy. Errors: ENOTFOUND (also when the
	// policy is not attached), EFORBIDDEN.
	DetachPolicy(ctx context.Context, workflowID, policyID string) error
	// StartRun runs the workflow and returns the finished run: in this
	// version runs are synchronous. A run that fails (bad data, an element
	// this version does not run, an input the actor may not read) is not
	// an error: it is returned with Status [RunFailed] and Error set.
	// Errors: ENOTFOUND, EFORBIDDEN.
	StartRun(ctx context.Context, workflowID string) (*WorkflowRun, error)
	// FindRuns lists a workflow's runs, newest first. Errors: ENOTFOUND.
	FindRuns(ctx context.Context, workflowID string) ([]*WorkflowRun, error)
	// ReadResult opens the result rows of a succeeded run as JSON Lines:
	// one JSON array per row, its values (strings, numbers or null) in the
	// order of the run's ResultColumns. With runID "", it opens the latest
	// succeeded run's. The caller closes the reader. Every successful
	// read is audited as [ActionDataSourceAccess]. Errors: ENOTFOUND,
	// ECONFLICT (the run has no result: it failed or is still running; or,
	// for runID "", the workflow has no succeeded run).
	ReadResult(ctx context.Context, workflowID, runID string) (*WorkflowRun, io.ReadCloser, error)
	// Preview evaluates the part of a graph that one element depends on
	// and returns that element's first rows and columns, without storing
	// a run or a result. It reads inputs as a run of the workflow does
	// (each read audited as a run's is), within a time limit. For a saved
	// workflow the actor must manage it. An element that cannot be
	// evaluated is not an error: it is reported in [Preview.Error].
	// Errors: EINVALID ("graph", "element_id", "rows"), ENOTFOUND,
	// EFORBIDDEN.
	Preview(ctx context.Context, req PreviewRequest) (*Preview, error)
}

// Element types of a workflow graph.
const (
	// Sources: they have no inputs.
	ElementImporter   = "importer"   // an uploaded file data source; config [ImporterConfig]
	ElementDatasource = "datasource" // another workflow's last result; config [WorkflowRefConfig]
	ElementWorkflow   = "workflow"   // runs another workflow; config [WorkflowRefConfig]
	ElementAuditLog   = "auditlog"   // the audit log (administrator only); config [AuditLogConfig]
	ElementSQL        = "sql"        // a SQL data source's query; config [ImporterConfig]
	// ElementExternal (federation.go) is a source too: a paired remote
	// server's shared result; config [ExternalConfig].

	// Operations.
	ElementSelect = "select" // config [SelectConfig]
	ElementAlter  = "alter"  // config [AlterConfig]
	ElementGroup  = "group"  // config [GroupConfig]
	ElementJoin   = "join"   // two inputs; config [JoinConfig]
	ElementUnion  = "union"  // two inputs; no config
	ElementPython = "python" // config [PythonConfig]

	// ElementResult marks the output; a graph has exactly one.
	ElementResult = "result"
)

// IsSource reports whether elements of type typ read data rather than
// transform their inputs.
func IsSource(typ string) bool {
	switch typ {
	case ElementImporter, ElementDatasource, ElementWorkflow, ElementAuditLog, ElementSQL, ElementExternal:
		return true
	}
	return false
}

// ElementInputs returns how many inputs an element of a known type takes.
func ElementInputs(typ string) int {
	switch {
	case IsSource(typ):
		return 0
	case typ == ElementJoin || typ == ElementUnion:
		return 2
	}
	return 1
}

func knownElement(typ string) bool {
	switch typ {
	case ElementImporter, ElementDatasource, ElementWorkflow, ElementAuditLog, ElementSQL, ElementExternal,
		ElementSelect, ElementAlter, ElementGroup, ElementJoin, ElementUnion, ElementPython, ElementResult:
		return true
	}
	return false
}

// Graph is a workflow's elements and the edges between them. Data flows
// along each edge from From to To. The inputs of an element are ordered by
// the order of their edges in Edges: for a join, the first is the left
// input.
type Graph struct {
	Elements []Element `json:"elements"`
	Edges    []Edge    `json:"edges"`
}

// Element is one node of a [Graph]. Config holds the settings of its Type,
// a JSON object decoded by [Element.DecodeConfig]; it may be empty for
// types without settings.
type Element struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config,omitempty"`
}

// Edge connects the output of element From to an input of element To.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Limits on the size of a graph.
const (
	MaxGraphElements = 500
	MaxGraphEdges    = 2000
	maxElementIDLen  = 64
	maxColumns       = 1000
	maxColumnNameLen = 200
)

// ImporterConfig is the config of an Importer (and of a SQL) element: the
// data source it reads.
type ImporterConfig struct {
	DataSourceID string `json:"datasource_id"`
}

// WorkflowRefConfig is the config of a Datasource or a Workflow element:
// the workflow whose result it reads.
type WorkflowRefConfig struct {
	WorkflowID string `json:"workflow_id"`
}

// Comparison operators of a [Condition].
const (
	OpEq   = "="
	OpNe   = "!="
	OpLt   = "<"
	OpLe   = "<="
	OpGt   = ">"
	OpGe   = ">="
	OpLike = "like" // SQL LIKE: % matches any run of characters, _ one character; case-insensitive
)

var compareOps = []string{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpLike}

// SelectConfig is the config of a Select element: the columns to keep (all
// when empty), in that order, and the conditions a row must meet to be
// kept (all of them).
type SelectConfig struct {
	Columns []string    `json:"columns,omitempty"`
	Where   []Condition `json:"where,omitempty"`
}

// Condition compares a column with a value. When both parse as numbers
// they are compared as numbers, otherwise as text; a null is the empty
// text.
type Condition struct {
	Column string `json:"column"`
	Op     string `json:"op"`
	Value  string `json:"value"`
}

// Cast types of an [AlterConfig].
const (
	CastInteger = "integer"
	CastFloat   = "float"
	CastString  = "string"
)

// AlterConfig is the config of an Alter element: renames, then casts (which
// name columns by their new names).
type AlterConfig struct {
	Rename []Rename `json:"rename,omitempty"`
	Cast   []Cast   `json:"cast,omitempty"`
}

// Rename renames column From to To.
type Rename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Cast converts a column's values to Type: [CastInteger], [CastFloat] or
// [CastString]. An empty text becomes null when cast to a number.
type Cast struct {
	Column string `json:"column"`
	Type   string `json:"type"`
}

// Aggregate functions of a [GroupConfig].
const (
	AggCount = "count"
	AggSum   = "sum"
	AggMin   = "min"
	AggMax   = "max"
	AggAvg   = "avg"
)

// GroupConfig is the config of a Group element: one output row per
// distinct combination of the By columns (in order of first appearance),
// holding those columns and then the aggregates.
type GroupConfig struct {
	By         []string    `json:"by,omitempty"`
	Aggregates []Aggregate `json:"aggregates,omitempty"`
}

// Aggregate computes Op over Column within each group and names the
// output column As (default: op_column, or "count"). Count without a column
// counts rows; with one, the rows where it is not null.
type Aggregate struct {
	Op     string `json:"op"`
	Column string `json:"column,omitempty"`
	As     string `json:"as,omitempty"`
}

// Name returns the output column name of a.
func (a Aggregate) Name() string {
	switch {
	case a.As != "":
		return a.As
	case a.Column == "":
		return a.Op
	}
	return a.Op + "_" + a.Column
}

// Join kinds of a [JoinConfig].
const (
	JoinInner = "inner" // only the left rows that match a right row (the default)
	JoinLeft  = "left"  // every left row; right columns null when none matches
)

// JoinConfig is the config of a Join element: a join of its two inputs on
// the left input's column Left equal to the right input's column Right.
// On names a column of that name on both sides, as older graphs do; set
// either On, or Left and Right. Kind is [JoinInner] (when empty) or
// [JoinLeft]. Keys are compared as text and nulls match nothing. The output
// holds the left columns, then the right ones, leaving out the right key
// when it has the same name as the left one.
type JoinConfig struct {
	On    string `json:"on,omitempty"`
	Left  string `json:"left,omitempty"`
	Right string `json:"right,omitempty"`
	Kind  string `json:"kind,omitempty"`
}

// Keys returns the names of the left and the right key columns.
func (c JoinConfig) Keys() (left, right string) {
	if c.On != "" {
		return c.On, c.On
	}
	return c.Left, c.Right
}

// PythonConfig is the config of a Python element: Python 3 code that
// defines transform(rows), called with an iterator of the input rows as
// dicts and returning (or yielding) the output rows as dicts. The output
// columns are the keys of the first output row, or the names listed in a
// global columns, if the code sets one. It runs in a separate process
// under the limits of [PythonSettings], only when an administrator has
// enabled Python.
type PythonConfig struct {
	Code string `json:"code"`
}

// MaxPythonCodeLen caps the code of a Python element.
const MaxPythonCodeLen = 100000

// DecodeConfig decodes e.Config into v strictly: unknown fields and
// trailing data are errors. An empty or null Config leaves v unchanged.
func (e *Element) DecodeConfig(v any) error {
	raw := bytes.TrimSpace(e.Config)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the config object")
	}
	return nil
}

// Validate checks that g is a well-formed workflow graph: at most
// [MaxGraphElements] elements and [MaxGraphEdges] edges; unique, non-empty
// element IDs; known element types with valid configs; edges between
// existing elements, without duplicates or cycles; sources without inputs;
// Join and Union with exactly two inputs and every other operation with
// one; exactly one Result, with no outputs. It returns an EINVALID error
// with field "graph" whose message names the problem and the element.
func (g *Graph) Validate() error {
	if len(g.Elements) > MaxGraphElements {
		return Invalidf("graph", "A graph has at most %d elements, this one has %d.", MaxGraphElements, len(g.Elements))
	}
	if len(g.Edges) > MaxGraphEdges {
		return Invalidf("graph", "A graph has at most %d edges, this one has %d.", MaxGraphEdges, len(g.Edges))
	}
	index := make(map[string]int, len(g.Elements))
	results := 0
	for i := range g.Elements {
		e := &g.Elements[i]
		switch {
		case e.ID == "":
			return Invalidf("graph", "Element %d has no id.", i+1)
		case len(e.ID) > maxElementIDLen || !utf8.ValidString(e.ID):
			return Invalidf("graph", "Element %d: an id is valid UTF-8 of at most %d bytes.", i+1, maxElementIDLen)
		}
		if _, dup := index[e.ID]; dup {
			return Invalidf("graph", "Element id %q is used twice.", e.ID)
		}
		index[e.ID] = i
		if !knownElement(e.Type) {
			return Invalidf("graph", "Element %q has unknown type %q.", e.ID, e.Type)
		}
		if msg := validateConfig(e); msg != "" {
			return Invalidf("graph", "Element %q (%s): %s", e.ID, e.Type, msg)
		}
		if e.Type == ElementResult {
			results++
		}
	}
	if results != 1 {
		return Invalidf("graph", "A graph needs exactly one result element, this one has %d.", results)
	}

	inputs := make([]int, len(g.Elements))
	outputs := make([][]int, len(g.Elements))
	seen := make(map[Edge]bool, len(g.Edges))
	for _, ed := range g.Edges {
		from, ok := index[ed.From]
		if !ok {
			return Invalidf("graph", "Edge %q -> %q starts at no element.", ed.From, ed.To)
		}
		to, ok := index[ed.To]
		if !ok {
			return Invalidf("graph", "Edge %q -> %q ends at no element.", ed.From, ed.To)
		}
		if from == to {
			return Invalidf("graph", "Edge %q -> %q makes a cycle.", ed.From, ed.To)
		}
		if seen[ed] {
			return Invalidf("graph", "Edge %q -> %q is listed twice.", ed.From, ed.To)
		}
		seen[ed] = true
		inputs[to]++
		outputs[from] = append(outputs[from], to)
	}
	for i, e := range g.Elements {
		want := ElementInputs(e.Type)
		switch {
		case want == 0 && inputs[i] > 0:
			return Invalidf("graph", "Element %q (%s) is a source: it takes no inputs, but has %d.", e.ID, e.Type, inputs[i])
		case want > 0 && inputs[i] != want:
			return Invalidf("graph", "Element %q (%s) takes exactly %d input(s), but has %d.", e.ID, e.Type, want, inputs[i])
		case e.Type == ElementResult && len(outputs[i]) > 0:
			return Invalidf("graph", "Element %q (result) is the output: it cannot feed other elements.", e.ID)
		}
	}

	// Kahn's algorithm: what is left after removing every element whose
	// inputs are all removed lies on or after a cycle.
	left := slices.Clone(inputs)
	queue := make([]int, 0, len(g.Elements))
	for i, n := range left {
		if n == 0 {
			queue = append(queue, i)
		}
	}
	done := 0
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		done++
		for _, j := range outputs[i] {
			if left[j]--; left[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	if done < len(g.Elements) {
		for i, n := range left {
			if n > 0 {
				return Invalidf("graph", "The edges form a cycle through element %q.", g.Elements[i].ID)
			}
		}
	}
	return nil
}

// validateConfig checks e's config for its type. Its error message is
// shown to the user after the element's name.
func validateConfig(e *Element) string {
	bad := func(err error) string { return "bad config: " + strings.TrimPrefix(err.Error(), "json: ") + "." }
	switch e.Type {
	case ElementImporter, ElementSQL:
		var c ImporterConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if !ValidID(c.DataSourceID) {
			return "config.datasource_id must be the id of a data source."
		}
	case ElementDatasource, ElementWorkflow:
		var c WorkflowRefConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if !ValidID(c.WorkflowID) {
			return "config.workflow_id must be the id of a workflow."
		}
	case ElementExternal:
		var c ExternalConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if !ValidID(c.RemoteServerID) {
			return "config.remote_server_id must be the id of a remote server."
		}
		if !ValidID(c.WorkflowID) {
			return "config.workflow_id must be the id of a workflow on that remote server."
		}
	case ElementSelect:
		var c SelectConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if msg := checkColumnList("columns", c.Columns); msg != "" {
			return msg
		}
		for i, w := range c.Where {
			if msg := checkColumnName(w.Column); msg != "" {
				return fmt.Sprintf("where %d: column: %s", i+1, msg)
			}
			if !slices.Contains(compareOps, w.Op) {
				return fmt.Sprintf("where %d: op %q is not one of %s.", i+1, w.Op, strings.Join(compareOps, " "))
			}
		}
	case ElementAlter:
		var c AlterConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		for i, r := range c.Rename {
			if msg := checkColumnName(r.From); msg != "" {
				return fmt.Sprintf("rename %d: from: %s", i+1, msg)
			}
			if msg := checkColumnName(r.To); msg != "" {
				return fmt.Sprintf("rename %d: to: %s", i+1, msg)
			}
		}
		for i, cs := range c.Cast {
			if msg := checkColumnName(cs.Column); msg != "" {
				return fmt.Sprintf("cast %d: column: %s", i+1, msg)
			}
			if cs.Type != CastInteger && cs.Type != CastFloat && cs.Type != CastString {
				return fmt.Sprintf("cast %d: type %q is not integer, float or string.", i+1, cs.Type)
			}
		}
	case ElementGroup:
		var c GroupConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if len(c.By) == 0 && len(c.Aggregates) == 0 {
			return "group by at least one column or compute at least one aggregate."
		}
		if msg := checkColumnList("by", c.By); msg != "" {
			return msg
		}
		names := slices.Clone(c.By)
		for i, a := range c.Aggregates {
			switch a.Op {
			case AggCount:
				if a.Column != "" {
					if msg := checkColumnName(a.Column); msg != "" {
						return fmt.Sprintf("aggregate %d: column: %s", i+1, msg)
					}
				}
			case AggSum, AggMin, AggMax, AggAvg:
				if msg := checkColumnName(a.Column); msg != "" {
					return fmt.Sprintf("aggregate %d: column: %s", i+1, msg)
				}
			default:
				return fmt.Sprintf("aggregate %d: op %q is not count, sum, min, max or avg.", i+1, a.Op)
			}
			if a.As != "" {
				if msg := checkColumnName(a.As); msg != "" {
					return fmt.Sprintf("aggregate %d: as: %s", i+1, msg)
				}
			}
			names = append(names, a.Name())
		}
		if msg := checkColumnList("output", names); msg != "" {
			return msg
		}
	case ElementJoin:
		var c JoinConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		switch {
		case c.On != "" && (c.Left != "" || c.Right != ""):
			return "set either on (a column both inputs have) or left and right, not both."
		case c.On == "" && c.Left == "" && c.Right == "":
			return "on: a column name cannot be empty: set on (a column both inputs have), or left and right (the key column of each input)."
		case c.On != "":
			if msg := checkColumnName(c.On); msg != "" {
				return fmt.Sprintf("on: %s", msg)
			}
		default:
			if msg := checkColumnName(c.Left); msg != "" {
				return fmt.Sprintf("left: %s (set left and right, the key column of each input, or on).", msg)
			}
			if msg := checkColumnName(c.Right); msg != "" {
				return fmt.Sprintf("right: %s (set left and right, the key column of each input, or on).", msg)
			}
		}
		if c.Kind != "" && c.Kind != JoinInner && c.Kind != JoinLeft {
			return fmt.Sprintf("kind %q is not %q or %q.", c.Kind, JoinInner, JoinLeft)
		}
	case ElementPython:
		var c PythonConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if len(c.Code) > MaxPythonCodeLen || !utf8.ValidString(c.Code) {
			return fmt.Sprintf("code: at most %d bytes of UTF-8.", MaxPythonCodeLen)
		}
	case ElementAuditLog:
		var c AuditLogConfig
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
		if !c.Since.IsZero() && !c.Until.IsZero() && !c.Until.After(c.Since) {
			return "until must be after since."
		}
	default: // union, result: no settings
		var c struct{}
		if err := e.DecodeConfig(&c); err != nil {
			return bad(err)
		}
	}
	return ""
}

// checkColumnName checks a column name: non-empty UTF-8 of bounded length.
// It returns what is wrong, or "".
func checkColumnName(c string) string {
	switch {
	case c == "":
		return "a column name cannot be empty."
	case len(c) > maxColumnNameLen:
		return fmt.Sprintf("a column name has at most %d bytes.", maxColumnNameLen)
	case !utf8.ValidString(c):
		return "a column name must be valid UTF-8."
	}
	return ""
}

// checkColumnList checks a list of column names that must be unique. It
// returns what is wrong, or "".
func checkColumnList(what string, cols []string) string {
	if len(cols) > maxColumns {
		return fmt.Sprintf("%s: at most %d columns.", what, maxColumns)
	}
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		if msg := checkColumnName(c); msg != "" {
			return fmt.Sprintf("%s: %s", what, msg)
		}
		if seen[c] {
			return fmt.Sprintf("%s: column %q appears twice.", what, c)
		}
		seen[c] = true
	}
	return ""
}
