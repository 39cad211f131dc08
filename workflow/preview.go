package workflow

import (
	"strconv"

	"github.com/bitnobi/bitnobi"
)

// PreviewGraph returns the part of g that element id depends on: id, the
// elements upstream of it and the edges between them, ending in a Result
// element fed by id (id itself, when it is the Result). Elements that id
// does not depend on are left out, so that a graph built a step at a time
// can be previewed before it is complete. The part is validated like any
// graph ([bitnobi.Graph.Validate]); an id that names no element is an
// EINVALID error with field "element_id".
func PreviewGraph(g *bitnobi.Graph, id string) (*bitnobi.Graph, error) {
	var target *bitnobi.Element
	ids := make(map[string]bool, len(g.Elements))
	for i := range g.Elements {
		ids[g.Elements[i].ID] = true
		if g.Elements[i].ID == id {
			target = &g.Elements[i]
		}
	}
	if target == nil {
		return nil, bitnobi.Invalidf("element_id", "The graph has no element %q.", id)
	}
	inputs := map[string][]string{}
	for _, e := range g.Edges {
		inputs[e.To] = append(inputs[e.To], e.From)
	}
	need := map[string]bool{}
	stack := []string{id}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if need[cur] {
			continue
		}
		need[cur] = true
		stack = append(stack, inputs[cur]...)
	}
	part := &bitnobi.Graph{}
	for _, el := range g.Elements {
		// A Result upstream of id would make the part invalid, as it
		// would have an output; Validate says so.
		if need[el.ID] {
			part.Elements = append(part.Elements, el)
		}
	}
	for _, e := range g.Edges {
		if need[e.From] && need[e.To] {
			part.Edges = append(part.Edges, e)
		}
	}
	if target.Type != bitnobi.ElementResult {
		out := "preview"
		for n := 2; ids[out]; n++ {
			out = "preview-" + strconv.Itoa(n)
		}
		part.Elements = append(part.Elements, bitnobi.Element{ID: out, Type: bitnobi.ElementResult})
		part.Edges = append(part.Edges, bitnobi.Edge{From: id, To: out})
	}
	if err := part.Validate(); err != nil {
		return nil, err
	}
	return part, nil
}
