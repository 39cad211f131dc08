package bitnobi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
)

const dsID = "0123456789abcdef0123456789abcdef"

// graph parses a graph written in JSON.
func graph(t testing.TB, s string) bitnobi.Graph {
	t.Helper()
	var g bitnobi.Graph
	if err := json.Unmarshal([]byte(s), &g); err != nil {
		t.Fatalf("parse graph: %v", err)
	}
	return g
}

func TestGraphValidate(t *testing.T) {
	imp := `{"id":"in","type":"importer","config":{"datasource_id":"` + dsID + `"}}`
	imp2 := `{"id":"in2","type":"importer","config":{"datasource_id":"` + dsID + `"}}`
	res := `{"id":"out","type":"result"}`
	tests := []struct {
		name  string
		graph string
		msg   string // "" for a valid graph, else a part of the message
	}{
		{"OK", `{"elements":[` + imp + `,` + res + `],"edges":[{"from":"in","to":"out"}]}`, ""},
		{"OKPipeline", `{"elements":[` + imp + `,` + imp2 + `,
			{"id":"j","type":"join","config":{"on":"k"}},
			{"id":"s","type":"select","config":{"columns":["a","b"],"where":[{"column":"a","op":"like","value":"x%"}]}},
			{"id":"a","type":"alter","config":{"rename":[{"from":"a","to":"c"}],"cast":[{"column":"c","type":"integer"}]}},
			{"id":"g","type":"group","config":{"by":["c"],"aggregates":[{"op":"count"},{"op":"avg","column":"b"}]}},
			` + res + `],
			"edges":[{"from":"in","to":"j"},{"from":"in2","to":"j"},{"from":"j","to":"s"},{"from":"s","to":"a"},{"from":"a","to":"g"},{"from":"g","to":"out"}]}`, ""},
		{"OKDanglingBranch", `{"elements":[` + imp + `,{"id":"p","type":"python","config":{"code":"pass"}},` + res + `],
			"edges":[{"from":"in","to":"out"},{"from":"in","to":"p"}]}`, ""},
		{"Empty", `{}`, "exactly one result element, this one has 0"},
		{"TwoResults", `{"elements":[` + imp + `,` + res + `,{"id":"out2","type":"result"}],"edges":[{"from":"in","to":"out"},{"from":"in","to":"out2"}]}`, "has 2"},
		{"NoID", `{"elements":[{"type":"result"}]}`, "Element 1 has no id"},
		{"DuplicateID", `{"elements":[` + imp + `,` + imp + `]}`, `Element id "in" is used twice`},
		{"UnknownType", `{"elements":[{"id":"x","type":"magic"}]}`, `Element "x" has unknown type "magic"`},
		{"ResultNoInput", `{"elements":[` + res + `]}`, `Element "out" (result) takes exactly 1 input(s), but has 0`},
		{"EdgeFromNowhere", `{"elements":[` + res + `],"edges":[{"from":"ghost","to":"out"}]}`, `Edge "ghost" -> "out" starts at no element`},
		{"EdgeToNowhere", `{"elements":[` + imp + `,` + res + `],"edges":[{"from":"in","to":"out"},{"from":"in","to":"ghost"}]}`, `ends at no element`},
		{"DuplicateEdge", `{"elements":[` + imp + `,` + res + `],"edges":[{"from":"in","to":"out"},{"from":"in","to":"out"}]}`, "listed twice"},
		{"SelfLoop", `{"elements":[` + imp + `,{"id":"s","type":"select"},` + res + `],"edges":[{"from":"s","to":"s"},{"from":"in","to":"out"}]}`, `"s" -> "s" makes a cycle`},
		{"Cycle", `{"elements":[` + imp + `,{"id":"j","type":"join","config":{"on":"a"}},{"id":"s","type":"select"},` + res + `],
			"edges":[{"from":"in","to":"j"},{"from":"s","to":"j"},{"from":"j","to":"s"},{"from":"s","to":"out"}]}`, "cycle through element"},
		{"SourceWithInput", `{"elements":[` + imp + `,` + imp2 + `,` + res + `],"edges":[{"from":"in","to":"in2"},{"from":"in2","to":"out"}]}`, `"in2" (importer) is a source`},
		{"JoinOneInput", `{"elements":[` + imp + `,{"id":"j","type":"join","config":{"on":"a"}},` + res + `],"edges":[{"from":"in","to":"j"},{"from":"j","to":"out"}]}`, `"j" (join) takes exactly 2 input(s), but has 1`},
		{"UnionThreeInputs", `{"elements":[` + imp + `,` + imp2 + `,{"id":"in3","type":"auditlog"},{"id":"u","type":"union"},` + res + `],
			"edges":[{"from":"in","to":"u"},{"from":"in2","to":"u"},{"from":"in3","to":"u"},{"from":"u","to":"out"}]}`, `"u" (union) takes exactly 2 input(s), but has 3`},
		{"SelectTwoInputs", `{"elements":[` + imp + `,` + imp2 + `,{"id":"s","type":"select"},` + res + `],
			"edges":[{"from":"in","to":"s"},{"from":"in2","to":"s"},{"from":"s","to":"out"}]}`, `"s" (select) takes exactly 1 input(s), but has 2`},
		{"ResultWithOutput", `{"elements":[` + imp + `,{"id":"s","type":"select"},` + res + `],
			"edges":[{"from":"in","to":"out"},{"from":"out","to":"s"}]}`, `"out" (result) is the output`},
		{"ImporterWithoutDataSource", `{"elements":[{"id":"in","type":"importer"},` + res + `],"edges":[{"from":"in","to":"out"}]}`, "config.datasource_id"},
		{"ConfigUnknownField", `{"elements":[{"id":"in","type":"importer","config":{"datasource":"x"}},` + res + `],"edges":[{"from":"in","to":"out"}]}`, `unknown field "datasource"`},
		{"ConfigNotObject", `{"elements":[` + imp + `,{"id":"s","type":"select","config":[1]},` + res + `],"edges":[{"from":"in","to":"s"},{"from":"s","to":"out"}]}`, `"s" (select): bad config`},
		{"ResultWithConfig", `{"elements":[` + imp + `,{"id":"out","type":"result","config":{"x":1}}],"edges":[{"from":"in","to":"out"}]}`, `"out" (result): bad config`},
		{"BadOp", `{"elements":[` + imp + `,{"id":"s","type":"select","config":{"where":[{"column":"a","op":"~","value":"1"}]}},` + res + `],"edges":[{"from":"in","to":"s"},{"from":"s","to":"out"}]}`, `op "~" is not one of`},
		{"BadCast", `{"elements":[` + imp + `,{"id":"a","type":"alter","config":{"cast":[{"column":"a","type":"date"}]}},` + res + `],"edges":[{"from":"in","to":"a"},{"from":"a","to":"out"}]}`, `type "date"`},
		{"EmptyGroup", `{"elements":[` + imp + `,{"id":"g","type":"group","config":{}},` + res + `],"edges":[{"from":"in","to":"g"},{"from":"g","to":"out"}]}`, "group by at least one column"},
		{"GroupNameClash", `{"elements":[` + imp + `,{"id":"g","type":"group","config":{"by":["count"],"aggregates":[{"op":"count"}]}},` + res + `],"edges":[{"from":"in","to":"g"},{"from":"g","to":"out"}]}`, `column "count" appears twice`},
		{"SumWithoutColumn", `{"elements":[` + imp + `,{"id":"g","type":"group","config":{"aggregates":[{"op":"sum"}]}},` + res + `],"edges":[{"from":"in","to":"g"},{"from":"g","to":"out"}]}`, "aggregate 1: column"},
		{"JoinWithoutColumn", `{"elements":[` + imp + `,` + imp2 + `,{"id":"j","type":"join"},` + res + `],"edges":[{"from":"in","to":"j"},{"from":"in2","to":"j"},{"from":"j","to":"out"}]}`, "on: a column name cannot be empty"},
		{"OKExternal", `{"elements":[{"id":"ext","type":"external","config":{"remote_server_id":"` + dsID + `","workflow_id":"` + dsID + `"}},` + res + `],"edges":[{"from":"ext","to":"out"}]}`, ""},
		{"ExternalWithoutRemote", `{"elements":[{"id":"ext","type":"external","config":{"workflow_id":"` + dsID + `"}},` + res + `],"edges":[{"from":"ext","to":"out"}]}`, "config.remote_server_id"},
		{"ExternalWithoutWorkflow", `{"elements":[{"id":"ext","type":"external","config":{"remote_server_id":"` + dsID + `"}},` + res + `],"edges":[{"from":"ext","to":"out"}]}`, "config.workflow_id"},
		{"ExternalWithInput", `{"elements":[` + imp + `,{"id":"ext","type":"external","config":{"remote_server_id":"` + dsID + `","workflow_id":"` + dsID + `"}},` + res + `],"edges":[{"from":"in","to":"ext"},{"from":"ext","to":"out"}]}`, `"ext" (external) is a source`},
		{"LongID", `{"elements":[{"id":"` + strings.Repeat("x", 65) + `","type":"result"}]}`, "at most 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graph(t, tt.graph)
			err := g.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate()=nil, want an error about %q", tt.msg)
			}
			be, ok := err.(*bitnobi.Error)
			if !ok || be.Code != bitnobi.EINVALID || be.Field != "graph" {
				t.Fatalf("Validate()=%#v, want EINVALID on field graph", err)
			}
			if !strings.Contains(be.Message, tt.msg) {
				t.Errorf("message=%q, want it to contain %q", be.Message, tt.msg)
			}
		})
	}
}

func TestGraphValidateLimits(t *testing.T) {
	g := bitnobi.Graph{Elements: make([]bitnobi.Element, bitnobi.MaxGraphElements+1)}
	if err := g.Validate(); err == nil || !strings.Contains(bitnobi.ErrorMessage(err), "at most") {
		t.Fatalf("Validate()=%v, want a complaint about size", err)
	}
	g = bitnobi.Graph{Edges: make([]bitnobi.Edge, bitnobi.MaxGraphEdges+1)}
	if err := g.Validate(); err == nil || !strings.Contains(bitnobi.ErrorMessage(err), "at most") {
		t.Fatalf("Validate()=%v, want a complaint about size", err)
	}
}

// FuzzGraphValidate checks that Validate never panics and that it accepts
// only graphs with the promised shape.
func FuzzGraphValidate(f *testing.F) {
	f.Add(`{"elements":[{"id":"in","type":"importer","config":{"datasource_id":"` + dsID + `"}},{"id":"out","type":"result"}],"edges":[{"from":"in","to":"out"}]}`)
	f.Add(`{"elements":[{"id":"a","type":"join","config":{"on":"x"}},{"id":"b","type":"union"},{"id":"out","type":"result"}],"edges":[{"from":"a","to":"b"},{"from":"b","to":"a"},{"from":"b","to":"out"}]}`)
	f.Add(`{"elements":[{"id":"s","type":"select","config":{"where":[{"column":"a","op":"like","value":"%"}]}},{"id":"g","type":"group","config":{"by":["a"],"aggregates":[{"op":"sum","column":"b","as":"a"}]}}],"edges":[{"from":"s","to":"s"}]}`)
	f.Add(`{"elements":[{"id":"x","type":"alter","config":null},{"id":"y","type":"python","config":"str"}],"edges":[{"from":"x","to":"nope"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var g bitnobi.Graph
		if json.Unmarshal([]byte(s), &g) != nil {
			return
		}
		err := g.Validate()
		if err != nil {
			if be, ok := err.(*bitnobi.Error); !ok || be.Field != "graph" || be.Code != bitnobi.EINVALID {
				t.Fatalf("Validate()=%#v, want an EINVALID error on field graph", err)
			}
			return
		}
		// A valid graph has one result, and every edge joins two elements.
		ids := map[string]string{}
		results := 0
		for _, e := range g.Elements {
			ids[e.ID] = e.Type
			if e.Type == bitnobi.ElementResult {
				results++
			}
		}
		if results != 1 || len(ids) != len(g.Elements) {
			t.Fatalf("valid graph with %d results and %d distinct ids of %d: %s", results, len(ids), len(g.Elements), s)
		}
		for _, ed := range g.Edges {
			if _, ok := ids[ed.From]; !ok {
				t.Fatalf("valid graph with an edge from nowhere: %s", s)
			}
			if ids[ed.From] == bitnobi.ElementResult || bitnobi.IsSource(ids[ed.To]) {
				t.Fatalf("valid graph with an edge out of the result or into a source: %s", s)
			}
		}
	})
}
