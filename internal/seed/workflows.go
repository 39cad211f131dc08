package seed

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/bitnobi/bitnobi"
)

// A workflow template builds a graph over one or two file data sources
// of the same kind, and tells the columns of its result.
type template struct {
	name  string
	build func(r *rand.Rand, k *csvKind, a, b string) (bitnobi.Graph, []string)
}

func element(id, typ string, config any) bitnobi.Element {
	e := bitnobi.Element{ID: id, Type: typ}
	if config != nil {
		raw, err := json.Marshal(config)
		if err != nil {
			panic(err) // only plain structs are marshalled
		}
		e.Config = raw
	}
	return e
}

func edges(pairs ...string) []bitnobi.Edge {
	out := make([]bitnobi.Edge, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, bitnobi.Edge{From: pairs[i], To: pairs[i+1]})
	}
	return out
}

func importer(id, ds string) bitnobi.Element {
	return element(id, bitnobi.ElementImporter, bitnobi.ImporterConfig{DataSourceID: ds})
}

var templates = []template{
	{
		// importer -> select (columns, where key = value) -> result
		name: "filter",
		build: func(r *rand.Rand, k *csvKind, a, _ string) (bitnobi.Graph, []string) {
			cols := []string{k.date, k.key, k.cat, k.num}
			return bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("source", a),
					element("keep", bitnobi.ElementSelect, bitnobi.SelectConfig{
						Columns: cols,
						Where:   []bitnobi.Condition{{Column: k.key, Op: bitnobi.OpEq, Value: k.keyValues[r.IntN(len(k.keyValues))]}},
					}),
					element("result", bitnobi.ElementResult, nil),
				},
				Edges: edges("source", "keep", "keep", "result"),
			}, cols
		},
	},
	{
		// importer -> alter (cast) -> group (count, sum, avg) -> result
		name: "summary",
		build: func(_ *rand.Rand, k *csvKind, a, _ string) (bitnobi.Graph, []string) {
			return bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("source", a),
					element("numbers", bitnobi.ElementAlter, bitnobi.AlterConfig{Cast: []bitnobi.Cast{{Column: k.num, Type: bitnobi.CastFloat}}}),
					element("by_key", bitnobi.ElementGroup, bitnobi.GroupConfig{By: []string{k.key}, Aggregates: []bitnobi.Aggregate{
						{Op: bitnobi.AggCount}, {Op: bitnobi.AggSum, Column: k.num, As: "total"}, {Op: bitnobi.AggAvg, Column: k.num, As: "mean"}}}),
					element("result", bitnobi.ElementResult, nil),
				},
				Edges: edges("source", "numbers", "numbers", "by_key", "by_key", "result"),
			}, []string{k.key, "count", "total", "mean"}
		},
	},
	{
		// two importers -> alter/group each -> join on key -> result
		name: "compare",
		build: func(_ *rand.Rand, k *csvKind, a, b string) (bitnobi.Graph, []string) {
			return bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("left", a),
					importer("right", b),
					element("left_numbers", bitnobi.ElementAlter, bitnobi.AlterConfig{Cast: []bitnobi.Cast{{Column: k.num, Type: bitnobi.CastFloat}}}),
					element("left_totals", bitnobi.ElementGroup, bitnobi.GroupConfig{By: []string{k.key}, Aggregates: []bitnobi.Aggregate{{Op: bitnobi.AggSum, Column: k.num, As: "total_before"}}}),
					element("right_counts", bitnobi.ElementGroup, bitnobi.GroupConfig{By: []string{k.key}, Aggregates: []bitnobi.Aggregate{{Op: bitnobi.AggCount, As: "rows_after"}}}),
					element("both", bitnobi.ElementJoin, bitnobi.JoinConfig{On: k.key}),
					element("result", bitnobi.ElementResult, nil),
				},
				Edges: edges("left", "left_numbers", "left_numbers", "left_totals", "right", "right_counts",
					"left_totals", "both", "right_counts", "both", "both", "result"),
			}, []string{k.key, "total_before", "rows_after"}
		},
	},
	{
		// importer -> select (like) -> alter (rename, cast) -> group (min, max) -> result
		name: "ranges",
		build: func(r *rand.Rand, k *csvKind, a, _ string) (bitnobi.Graph, []string) {
			v := k.keyValues[r.IntN(len(k.keyValues))]
			return bitnobi.Graph{
				Elements: []bitnobi.Element{
					importer("source", a),
					element("subset", bitnobi.ElementSelect, bitnobi.SelectConfig{
						Columns: []string{k.key, k.cat, k.num},
						Where:   []bitnobi.Condition{{Column: k.key, Op: bitnobi.OpLike, Value: v[:1] + "%"}},
					}),
					element("rename", bitnobi.ElementAlter, bitnobi.AlterConfig{
						Rename: []bitnobi.Rename{{From: k.num, To: "value"}},
						Cast:   []bitnobi.Cast{{Column: "value", Type: bitnobi.CastFloat}},
					}),
					element("spread", bitnobi.ElementGroup, bitnobi.GroupConfig{By: []string{k.key, k.cat}, Aggregates: []bitnobi.Aggregate{
						{Op: bitnobi.AggMin, Column: "value"}, {Op: bitnobi.AggMax, Column: "value"}, {Op: bitnobi.AggCount}}}),
					element("result", bitnobi.ElementResult, nil),
				},
				Edges: edges("source", "subset", "subset", "rename", "rename", "spread", "spread", "result"),
			}, []string{k.key, k.cat, "min_value", "max_value", "count"}
		},
	},
}

// charts returns a report's charts over a result with columns cols, the
// first of which is a label and the rest numbers (for "filter", the
// last).
func charts(r *rand.Rand, tmpl string, cols []string) []bitnobi.Chart {
	x, ys := cols[0], cols[1:]
	if tmpl == "filter" {
		ys = cols[len(cols)-1:]
	} else if tmpl == "ranges" {
		ys = cols[2:]
	}
	out := []bitnobi.Chart{{Type: bitnobi.ChartBar, Title: fmt.Sprintf("%s by %s", ys[0], x), X: x, Y: ys[:1]}}
	switch r.IntN(3) {
	case 0:
		out = append(out, bitnobi.Chart{Type: bitnobi.ChartPie, Title: "share of " + ys[len(ys)-1], X: x, Y: ys[len(ys)-1:]})
	case 1:
		out = append(out, bitnobi.Chart{Type: bitnobi.ChartLine, Title: "trend", X: x, Y: ys})
	}
	if r.IntN(2) == 0 {
		out = append(out, bitnobi.Chart{Type: bitnobi.ChartTable, Title: "all rows"})
	}
	return out
}
