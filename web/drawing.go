package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// drawGraph draws a workflow graph as SVG: sources on the left, each
// element one column right of its furthest input, edges as arrows. The
// element highlight (if any) is drawn emphasised. Text is escaped; the SVG
// uses presentation attributes only, which the Content-Security-Policy
// allows (no style attributes, no script).
func drawGraph(g *bitnobi.Graph, highlight string) template.HTML {
	if len(g.Elements) == 0 {
		return template.HTML(`<p class="muted">The graph is empty: add an element.</p>`)
	}
	const boxW, boxH, gapX, gapY, pad = 150, 46, 60, 22, 10
	index := map[string]int{}
	for i, el := range g.Elements {
		index[el.ID] = i
	}
	// Column = longest path from a source; a cycle (refused on save, but
	// possible in a draft) stops growing after len(elements) rounds.
	col := make([]int, len(g.Elements))
	for round := 0; round < len(g.Elements); round++ {
		changed := false
		for _, e := range g.Edges {
			f, okF := index[e.From]
			t, okT := index[e.To]
			if okF && okT && col[t] < col[f]+1 && col[f]+1 < len(g.Elements) {
				col[t] = col[f] + 1
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	row := make([]int, len(g.Elements))
	perCol := map[int]int{}
	maxCol, maxRow := 0, 0
	for i := range g.Elements {
		row[i] = perCol[col[i]]
		perCol[col[i]]++
		maxCol, maxRow = max(maxCol, col[i]), max(maxRow, row[i])
	}
	x := func(i int) int { return pad + col[i]*(boxW+gapX) }
	y := func(i int) int { return pad + row[i]*(boxH+gapY) }
	width := 2*pad + (maxCol+1)*boxW + maxCol*gapX
	height := 2*pad + (maxRow+1)*boxH + maxRow*gapY

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="graph-title">`, width, height, width, height)
	var desc []string
	for _, e := range g.Edges {
		desc = append(desc, e.From+" to "+e.To)
	}
	fmt.Fprintf(&b, `<title id="graph-title">Workflow graph: %d elements; edges %s</title>`, len(g.Elements), html.EscapeString(strings.Join(desc, ", ")))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6474"/></marker></defs>`)
	for _, e := range g.Edges {
		f, okF := index[e.From]
		t, okT := index[e.To]
		if !okF || !okT {
			continue
		}
		x1, y1 := x(f)+boxW, y(f)+boxH/2
		x2, y2 := x(t), y(t)+boxH/2
		if x2 <= x1 { // a back edge (a cycle in a draft): curve under the boxes
			fmt.Fprintf(&b, `<path d="M%d,%d C%d,%d %d,%d %d,%d" fill="none" stroke="#b3261e" stroke-width="1.5" marker-end="url(#arrow)"/>`, x1, y1, x1+40, y1+boxH, x2-40, y2+boxH, x2, y2)
			continue
		}
		mx := (x1 + x2) / 2
		fmt.Fprintf(&b, `<path d="M%d,%d C%d,%d %d,%d %d,%d" fill="none" stroke="#5b6474" stroke-width="1.5" marker-end="url(#arrow)"/>`, x1, y1, mx, y1, mx, y2, x2, y2)
	}
	for i, el := range g.Elements {
		fill, stroke := "#ffffff", "#8d96a5"
		switch {
		case el.ID == highlight:
			fill, stroke = "#fff4d6", "#b07d00"
		case bitnobi.IsSource(el.Type):
			fill = "#e8eef8"
		case el.Type == bitnobi.ElementResult:
			fill = "#e6f4ea"
		}
		fmt.Fprintf(&b, `<g><rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="%s" stroke-width="1.5"/>`, x(i), y(i), boxW, boxH, fill, stroke)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" font-weight="600" fill="#1d2330">%s</text>`, x(i)+10, y(i)+19, html.EscapeString(clipText(el.ID, 18)))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#5b6474">%s</text></g>`, x(i)+10, y(i)+36, html.EscapeString(el.Type))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it is escaped above
}

// clipText cuts s to n runes, with an ellipsis.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
