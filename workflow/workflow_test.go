package workflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// Data-source and workflow IDs of the fake inputs.
const (
	salesCSV  = "00000000000000000000000000000001"
	salesJSON = "00000000000000000000000000000002"
	regions   = "00000000000000000000000000000003"
	sqlDS     = "00000000000000000000000000000004"
	prevWF    = "00000000000000000000000000000005"
	missing   = "0000000000000000000000000000dead"
)

const salesData = "region,product,amount\n" +
	"north,apple,10\n" +
	"south,apple,5\n" +
	"north,pear,2.5\n" +
	"east,apple,7\n" +
	"north,apple,1\n"

const salesJSONData = `[
	{"region":"north","product":"apple","amount":10},
	{"region":"south","product":"apple","amount":5, "note": {"a": [1, 2]}},
	{"product":"pear","region":"north","amount":2.5, "ok": true},
	{"region":null,"product":"fig","amount":"7"}
]`

// inputs serves fixed files and one stored result.
type inputs struct {
	opened []string
	files  map[string]*bitnobi.DataSource
	data   map[string]string
	seek   bool // serve seekable readers, as the blob store does
	python *workflow.PythonOptions
}

func newInputs() *inputs {
	return &inputs{
		seek: true,
		files: map[string]*bitnobi.DataSource{
			salesCSV:  {ID: salesCSV, Kind: "file", Format: "csv"},
			salesJSON: {ID: salesJSON, Kind: "file", Format: "json"},
			regions:   {ID: regions, Kind: "file", Format: "csv"},
		},
		data: map[string]string{
			salesCSV:  salesData,
			salesJSON: salesJSONData,
			regions:   "region,manager\nnorth,Ann\nsouth,Bob\nwest,Cid\n",
		},
	}
}

type readCloser struct{ io.Reader }

func (readCloser) Close() error { return nil }

type readSeekCloser struct{ *strings.Reader }

func (readSeekCloser) Close() error { return nil }

func (in *inputs) OpenDataSource(ctx context.Context, id string) (io.ReadCloser, *bitnobi.DataSource, error) {
	in.opened = append(in.opened, id)
	ds, ok := in.files[id]
	if !ok {
		return nil, nil, bitnobi.Errorf(bitnobi.ENOTFOUND, "Data source not found.")
	}
	if in.seek {
		return readSeekCloser{strings.NewReader(in.data[id])}, ds, nil
	}
	return readCloser{strings.NewReader(in.data[id])}, ds, nil
}

func (in *inputs) OpenResult(ctx context.Context, workflowID string) (*bitnobi.WorkflowRun, io.ReadCloser, error) {
	if workflowID != prevWF {
		return nil, nil, bitnobi.Errorf(bitnobi.ENOTFOUND, "Workflow not found.")
	}
	run := &bitnobi.WorkflowRun{Status: bitnobi.RunSucceeded, ResultColumns: []string{"region", "total"}}
	return run, readCloser{strings.NewReader("[\"north\",13.5]\n[\"south\",5]\n[null,1.0]\n")}, nil
}

// PythonSettings makes in a [workflow.PythonInput]: Python is off unless
// a test sets in.python.
func (in *inputs) PythonSettings(ctx context.Context) (*workflow.PythonOptions, error) {
	if in.python == nil {
		return &workflow.PythonOptions{}, nil
	}
	return in.python, nil
}

// el makes an element with a config given as a Go value.
func el(id, typ string, config any) bitnobi.Element {
	e := bitnobi.Element{ID: id, Type: typ}
	if config != nil {
		b, err := json.Marshal(config)
		if err != nil {
			panic(err)
		}
		e.Config = b
	}
	return e
}

func importer(id, ds string) bitnobi.Element {
	return el(id, bitnobi.ElementImporter, bitnobi.ImporterConfig{DataSourceID: ds})
}

// chain makes a graph whose elements feed each other in order.
func chain(els ...bitnobi.Element) bitnobi.Graph {
	g := bitnobi.Graph{Elements: els}
	for i := 1; i < len(els); i++ {
		g.Edges = append(g.Edges, bitnobi.Edge{From: els[i-1].ID, To: els[i].ID})
	}
	return g
}

func run(t *testing.T, g bitnobi.Graph, in *inputs) ([]string, [][]any, error) {
	t.Helper()
	rows, err := workflow.Run(context.Background(), &g, in)
	if err != nil {
		return nil, nil, err
	}
	cols := rows.Columns()
	out, err := workflow.ReadAll(rows)
	return cols, out, err
}

func TestRun(t *testing.T) {
	result := el("out", bitnobi.ElementResult, nil)
	tests := []struct {
		name  string
		graph bitnobi.Graph
		cols  []string
		rows  [][]any
	}{
		{
			name:  "ImportCSV",
			graph: chain(importer("in", salesCSV), result),
			cols:  []string{"region", "product", "amount"},
			rows: [][]any{
				{"north", "apple", "10"}, {"south", "apple", "5"}, {"north", "pear", "2.5"},
				{"east", "apple", "7"}, {"north", "apple", "1"},
			},
		},
		{
			name:  "ImportJSON",
			graph: chain(importer("in", salesJSON), result),
			cols:  []string{"region", "product", "amount", "note", "ok"},
			rows: [][]any{
				{"north", "apple", "10", nil, nil},
				{"south", "apple", "5", `{"a":[1,2]}`, nil},
				{"north", "pear", "2.5", nil, "true"},
				{nil, "fig", "7", nil, nil},
			},
		},
		{
			name: "SelectNumeric",
			graph: chain(importer("in", salesCSV), el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{
				Columns: []string{"amount", "region"},
				Where:   []bitnobi.Condition{{Column: "amount", Op: ">", Value: "4"}},
			}), result),
			cols: []string{"amount", "region"},
			// As text "10" < "4"; as numbers it is kept.
			rows: [][]any{{"10", "north"}, {"5", "south"}, {"7", "east"}},
		},
		{
			name: "SelectOps",
			graph: chain(importer("in", salesCSV), el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{
				Where: []bitnobi.Condition{
					{Column: "region", Op: "!=", Value: "south"},
					{Column: "product", Op: "like", Value: "A%E"},
					{Column: "amount", Op: "<=", Value: "7"},
					{Column: "amount", Op: ">=", Value: "1.0"},
				},
			}), result),
			cols: []string{"region", "product", "amount"},
			rows: [][]any{{"east", "apple", "7"}, {"north", "apple", "1"}},
		},
		{
			name: "SelectTextCompare",
			graph: chain(importer("in", salesCSV), el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{
				Columns: []string{"region"},
				Where:   []bitnobi.Condition{{Column: "region", Op: "<", Value: "north"}, {Column: "region", Op: "=", Value: "east"}},
			}), result),
			cols: []string{"region"},
			rows: [][]any{{"east"}},
		},
		{
			name: "AlterRenameCast",
			graph: chain(importer("in", salesCSV), el("alt", bitnobi.ElementAlter, bitnobi.AlterConfig{
				Rename: []bitnobi.Rename{{From: "amount", To: "qty"}},
				Cast:   []bitnobi.Cast{{Column: "qty", Type: "float"}},
			}), el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{Columns: []string{"qty"}}), result),
			cols: []string{"qty"},
			rows: [][]any{{10.0}, {5.0}, {2.5}, {7.0}, {1.0}},
		},
		{
			name: "CastIntegerTruncates",
			graph: chain(importer("in", salesCSV), el("alt", bitnobi.ElementAlter, bitnobi.AlterConfig{
				Cast: []bitnobi.Cast{{Column: "amount", Type: "integer"}},
			}), el("back", bitnobi.ElementAlter, bitnobi.AlterConfig{
				Cast: []bitnobi.Cast{{Column: "region", Type: "string"}},
			}), el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{Columns: []string{"amount"}}), result),
			cols: []string{"amount"},
			rows: [][]any{{int64(10)}, {int64(5)}, {int64(2)}, {int64(7)}, {int64(1)}},
		},
		{
			name: "Group",
			graph: chain(importer("in", salesCSV), el("grp", bitnobi.ElementGroup, bitnobi.GroupConfig{
				By: []string{"region"},
				Aggregates: []bitnobi.Aggregate{
					{Op: "count"}, {Op: "sum", Column: "amount"}, {Op: "min", Column: "amount"},
					{Op: "max", Column: "amount", As: "most"}, {Op: "avg", Column: "amount"},
				},
			}), result),
			cols: []string{"region", "count", "sum_amount", "min_amount", "most", "avg_amount"},
			rows: [][]any{
				{"north", int64(3), 13.5, "1", "10", 4.5},
				{"south", int64(1), int64(5), "5", "5", 5.0},
				{"east", int64(1), int64(7), "7", "7", 7.0},
			},
		},
		{
			name: "GroupNoRowsNoBy",
			graph: chain(importer("in", salesCSV), el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{
				Where: []bitnobi.Condition{{Column: "region", Op: "=", Value: "nowhere"}},
			}), el("grp", bitnobi.ElementGroup, bitnobi.GroupConfig{
				Aggregates: []bitnobi.Aggregate{{Op: "count"}, {Op: "sum", Column: "amount"}},
			}), result),
			cols: []string{"count", "sum_amount"},
			rows: [][]any{{int64(0), nil}},
		},
		{
			name: "Join",
			graph: bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("sales", salesCSV), importer("regions", regions),
					el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{On: "region"}),
					el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{Columns: []string{"manager", "amount"}}),
					result,
				},
				Edges: []bitnobi.Edge{{From: "sales", To: "j"}, {From: "regions", To: "j"}, {From: "j", To: "sel"}, {From: "sel", To: "out"}},
			},
			cols: []string{"manager", "amount"},
			rows: [][]any{{"Ann", "10"}, {"Bob", "5"}, {"Ann", "2.5"}, {"Ann", "1"}},
		},
		{
			name: "JoinOnNamedColumnsLeft",
			graph: bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("regions", regions),
					importer("sales", salesCSV),
					el("alt", bitnobi.ElementAlter, bitnobi.AlterConfig{Rename: []bitnobi.Rename{{From: "region", To: "area"}}}),
					el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{Left: "region", Right: "area", Kind: bitnobi.JoinLeft}),
					el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{Columns: []string{"manager", "area", "amount"}}),
					result,
				},
				Edges: []bitnobi.Edge{{From: "regions", To: "j"}, {From: "sales", To: "alt"}, {From: "alt", To: "j"}, {From: "j", To: "sel"}, {From: "sel", To: "out"}},
			},
			cols: []string{"manager", "area", "amount"},
			// West has no sales: a left join keeps it, with nulls.
			rows: [][]any{{"Ann", "north", "10"}, {"Ann", "north", "2.5"}, {"Ann", "north", "1"}, {"Bob", "south", "5"}, {"Cid", nil, nil}},
		},
		{
			name: "JoinOnNamedColumnsInner",
			graph: bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("regions", regions),
					importer("sales", salesCSV),
					el("alt", bitnobi.ElementAlter, bitnobi.AlterConfig{Rename: []bitnobi.Rename{{From: "region", To: "area"}}}),
					el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{Left: "region", Right: "area", Kind: bitnobi.JoinInner}),
					result,
				},
				Edges: []bitnobi.Edge{{From: "regions", To: "j"}, {From: "sales", To: "alt"}, {From: "alt", To: "j"}, {From: "j", To: "out"}},
			},
			cols: []string{"region", "manager", "area", "product", "amount"},
			rows: [][]any{
				{"north", "Ann", "north", "apple", "10"}, {"north", "Ann", "north", "pear", "2.5"}, {"north", "Ann", "north", "apple", "1"},
				{"south", "Bob", "south", "apple", "5"},
			},
		},
		{
			name: "UnionOfOneSourceTwice",
			graph: bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("r", regions),
					el("a", bitnobi.ElementSelect, bitnobi.SelectConfig{Where: []bitnobi.Condition{{Column: "manager", Op: "=", Value: "Ann"}}}),
					el("b", bitnobi.ElementSelect, bitnobi.SelectConfig{Columns: []string{"manager", "region"}}),
					el("u", bitnobi.ElementUnion, nil),
					result,
				},
				Edges: []bitnobi.Edge{{From: "r", To: "a"}, {From: "r", To: "b"}, {From: "a", To: "u"}, {From: "b", To: "u"}, {From: "u", To: "out"}},
			},
			cols: []string{"region", "manager"},
			rows: [][]any{{"north", "Ann"}, {"north", "Ann"}, {"south", "Bob"}, {"west", "Cid"}},
		},
		{
			name: "DatasourceOfAnotherWorkflow",
			graph: chain(el("prev", bitnobi.ElementDatasource, bitnobi.WorkflowRefConfig{WorkflowID: prevWF}),
				el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{Where: []bitnobi.Condition{{Column: "total", Op: ">", Value: "2"}}}),
				result),
			cols: []string{"region", "total"},
			rows: [][]any{{"north", 13.5}, {"south", int64(5)}},
		},
		{
			name: "UnusedBranchNotRun",
			graph: bitnobi.Graph{
				Elements: []bitnobi.Element{importer("in", regions), el("py", bitnobi.ElementPython, nil), result},
				Edges:    []bitnobi.Edge{{From: "in", To: "out"}, {From: "in", To: "py"}},
			},
			cols: []string{"region", "manager"},
			rows: [][]any{{"north", "Ann"}, {"south", "Bob"}, {"west", "Cid"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols, rows, err := run(t, tt.graph, newInputs())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !reflect.DeepEqual(cols, tt.cols) {
				t.Errorf("columns=%q, want %q", cols, tt.cols)
			}
			if !reflect.DeepEqual(rows, tt.rows) {
				t.Errorf("rows=%#v\nwant %#v", rows, tt.rows)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	result := el("out", bitnobi.ElementResult, nil)
	tests := []struct {
		name  string
		graph bitnobi.Graph
		code  string
		msg   string // a part of the message
	}{
		{"Python", chain(el("py", bitnobi.ElementPython, bitnobi.PythonConfig{Code: "x"}), result), bitnobi.EINVALID, "takes exactly 1 input"},
		{"SQL", chain(el("q", bitnobi.ElementSQL, bitnobi.ImporterConfig{DataSourceID: sqlDS}), result), bitnobi.EUNSUPPORTED, `Element "q" (sql): sql elements are not supported in this version.`},
		{"AuditLog", chain(el("a", bitnobi.ElementAuditLog, nil), result), bitnobi.EUNSUPPORTED, "auditlog elements are not supported in this version"},
		{"Workflow", chain(el("w", bitnobi.ElementWorkflow, bitnobi.WorkflowRefConfig{WorkflowID: prevWF}), result), bitnobi.EUNSUPPORTED, "workflow elements are not supported"},
		{"PythonStep", chain(importer("in", salesCSV), el("py", bitnobi.ElementPython, nil), result), bitnobi.EFORBIDDEN, `Element "py" (python): Python elements are off`},
		{"MissingDataSource", chain(importer("in", missing), result), bitnobi.ENOTFOUND, `Element "in" (importer): Data source not found.`},
		{"MissingWorkflow", chain(el("d", bitnobi.ElementDatasource, bitnobi.WorkflowRefConfig{WorkflowID: missing}), result), bitnobi.ENOTFOUND, "Workflow not found"},
		{"UnknownColumn", chain(importer("in", salesCSV), el("s", bitnobi.ElementSelect, bitnobi.SelectConfig{Columns: []string{"nope"}}), result), bitnobi.EINVALID, `no column "nope"`},
		{"BadCast", chain(importer("in", salesCSV), el("a", bitnobi.ElementAlter, bitnobi.AlterConfig{Cast: []bitnobi.Cast{{Column: "region", Type: "integer"}}}), result), bitnobi.EINVALID, `row 1, column "region": cannot cast "north" to integer.`},
		{"RenameClash", chain(importer("in", salesCSV), el("a", bitnobi.ElementAlter, bitnobi.AlterConfig{Rename: []bitnobi.Rename{{From: "region", To: "amount"}}}), result), bitnobi.EINVALID, "there is a column"},
		{"SumOfText", chain(importer("in", salesCSV), el("g", bitnobi.ElementGroup, bitnobi.GroupConfig{Aggregates: []bitnobi.Aggregate{{Op: "sum", Column: "region"}}}), result), bitnobi.EINVALID, `cannot sum "north"`},
		{"UnionColumns", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", regions), el("u", bitnobi.ElementUnion, nil), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "u"}, {From: "b", To: "u"}, {From: "u", To: "out"}},
		}, bitnobi.EINVALID, "different columns"},
		{"JoinClash", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", salesCSV), el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{On: "region"}), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "j"}, {From: "b", To: "j"}, {From: "j", To: "out"}},
		}, bitnobi.EINVALID, `both inputs have a column "product"`},
		{"JoinNoColumn", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", regions), el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{On: "manager"}), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "j"}, {From: "b", To: "j"}, {From: "j", To: "out"}},
		}, bitnobi.EINVALID, "left input"},
		{"JoinNoRightColumn", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", regions), el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{Left: "region", Right: "area"}), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "j"}, {From: "b", To: "j"}, {From: "j", To: "out"}},
		}, bitnobi.EINVALID, `no column "area" in the right input`},
		{"JoinBadKind", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", regions), el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{On: "region", Kind: "outer"}), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "j"}, {From: "b", To: "j"}, {From: "j", To: "out"}},
		}, bitnobi.EINVALID, `kind "outer" is not "inner" or "left"`},
		{"JoinOnAndLeft", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", regions), el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{On: "region", Left: "region"}), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "j"}, {From: "b", To: "j"}, {From: "j", To: "out"}},
		}, bitnobi.EINVALID, "either on"},
		{"JoinNoKeys", bitnobi.Graph{
			Elements: []bitnobi.Element{importer("a", salesCSV), importer("b", regions), el("j", bitnobi.ElementJoin, bitnobi.JoinConfig{Kind: "left"}), result},
			Edges:    []bitnobi.Edge{{From: "a", To: "j"}, {From: "b", To: "j"}, {From: "j", To: "out"}},
		}, bitnobi.EINVALID, "on: a column name cannot be empty: set on (a column both inputs have), or left and right"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, tt.graph, newInputs())
			if got := bitnobi.ErrorCode(err); got != tt.code {
				t.Fatalf("code=%q (%v), want %q", got, err, tt.code)
			}
			if msg := bitnobi.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message=%q, want it to contain %q", msg, tt.msg)
			}
		})
	}
}

func TestImportBadFiles(t *testing.T) {
	tests := []struct {
		name, format, data, msg string
	}{
		{"CSVEmpty", "csv", "", "empty"},
		{"CSVFieldCount", "csv", "a,b\n1,2\n3\n", "wrong number of fields"},
		{"CSVDuplicateHeader", "csv", "a,a\n1,2\n", `names column "a" twice`},
		{"CSVQuote", "csv", "a\n\"x\n", "CSV"},
		{"JSONNotArray", "json", `{"a":1}`, "array of objects"},
		{"JSONNotObjects", "json", `[1,2]`, "only objects"},
		{"JSONTruncated", "json", `[{"a":1},`, "JSON"},
		{"JSONSyntax", "json", `[{"a":1}}`, "JSON"},
		{"JSONTrailing", "json", `[{"a":1}] x`, "JSON"},
	}
	for _, tt := range tests {
		for _, seek := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/seek=%v", tt.name, seek), func(t *testing.T) {
				in := newInputs()
				in.seek = seek
				in.files[missing] = &bitnobi.DataSource{ID: missing, Format: tt.format}
				in.data[missing] = tt.data
				_, _, err := run(t, chain(importer("in", missing), el("out", bitnobi.ElementResult, nil)), in)
				if got := bitnobi.ErrorCode(err); got != bitnobi.EINVALID {
					t.Fatalf("code=%q (%v), want invalid", got, err)
				}
				if msg := bitnobi.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
					t.Errorf("message=%q, want it to contain %q", msg, tt.msg)
				}
			})
		}
	}
}

func TestImportJSONUnseekable(t *testing.T) {
	in := newInputs()
	in.seek = false
	// The first object fixes the columns; a later new key is an error.
	_, _, err := run(t, chain(importer("in", salesJSON), el("out", bitnobi.ElementResult, nil)), in)
	if msg := bitnobi.ErrorMessage(err); !strings.Contains(msg, `key "note" is not in the first object`) {
		t.Fatalf("err=%v, want a complaint about key note", err)
	}
	in.data[salesJSON] = `[{"a":"1","b":2},{"b":3}]`
	cols, rows, err := run(t, chain(importer("in", salesJSON), el("out", bitnobi.ElementResult, nil)), in)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{"1", "2"}, {nil, "3"}}; !reflect.DeepEqual(rows, want) || !reflect.DeepEqual(cols, []string{"a", "b"}) {
		t.Fatalf("got %q %#v, want [a b] %#v", cols, rows, want)
	}
}

func TestCSVHeader(t *testing.T) {
	in := newInputs()
	in.data[salesCSV] = "\ufeffid,,name\n1,x,y\n"
	cols, _, err := run(t, chain(importer("in", salesCSV), el("out", bitnobi.ElementResult, nil)), in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"id", "column_2", "name"}; !reflect.DeepEqual(cols, want) {
		t.Fatalf("columns=%q, want %q", cols, want)
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	rows := [][]any{
		{"a", int64(1), 1.0, nil},
		{"\"quoted\"\n<b>", int64(-9007199254740993), 2.5e-300, "ünïcode"},
		{"", int64(0), -0.5, nil},
	}
	var buf bytes.Buffer
	n, err := workflow.WriteJSONL(&buf, workflow.NewRows([]string{"s", "i", "f", "n"}, rows))
	if err != nil || n != 3 {
		t.Fatalf("WriteJSONL=%d, %v", n, err)
	}
	got, err := workflow.ReadAll(workflow.NewJSONLReader(context.Background(), []string{"s", "i", "f", "n"}, io.NopCloser(&buf)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("round trip=%#v\nwant %#v", got, rows)
	}
}

func TestCanceled(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("n\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "%d\n", i)
	}
	in := newInputs()
	in.data[salesCSV] = sb.String()
	ctx, cancel := context.WithCancel(context.Background())
	g := chain(importer("in", salesCSV), el("out", bitnobi.ElementResult, nil))
	rows, err := workflow.Run(ctx, &g, in)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := workflow.ReadAll(rows); !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled", err)
	}
}

// FuzzImport feeds arbitrary files to the importers, seekable or not,
// followed by a select and a group: a user's file must never panic a run.
func FuzzImport(f *testing.F) {
	f.Add("csv", salesData, true)
	f.Add("json", salesJSONData, true)
	f.Add("json", `[{"a":1},{"b":[1,{"c":null}]},{}]`, false)
	f.Add("csv", "a,a\n", false)
	f.Fuzz(func(t *testing.T, format, data string, seek bool) {
		if format != "csv" && format != "json" {
			return
		}
		in := newInputs()
		in.seek = seek
		in.files[missing] = &bitnobi.DataSource{ID: missing, Format: format}
		in.data[missing] = data
		g := chain(importer("in", missing),
			el("s", bitnobi.ElementSelect, bitnobi.SelectConfig{}),
			el("g", bitnobi.ElementGroup, bitnobi.GroupConfig{Aggregates: []bitnobi.Aggregate{{Op: "count"}}}),
			el("out", bitnobi.ElementResult, nil))
		_, rows, err := run(t, g, in)
		if err == nil && (len(rows) != 1 || len(rows[0]) != 1) {
			t.Fatalf("group of everything gave %v", rows)
		}
		if err != nil && bitnobi.ErrorCode(err) == bitnobi.EINTERNAL {
			t.Fatalf("a bad file gave an internal error: %v", err)
		}
	})
}
