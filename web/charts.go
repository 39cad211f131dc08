package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// chartView is one chart of a report's page: an SVG drawing, a table, or
// a text box.
type chartView struct {
	ID, Type, Title, Text, Error string
	SVG                          template.HTML
	Legend                       []legendItem
	Columns                      []string
	Rows                         [][]string
	More                         bool
}

// legendItem names a series and its colour.
type legendItem struct{ Name, Color string }

// palette colours the series (colour-blind-safe, after Okabe and Ito).
var palette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"}

func color(i int) string { return palette[i%len(palette)] }

// Chart drawing area, in SVG units (the SVG scales to the page's width).
const (
	chartW, chartH         = 480, 280
	padL, padR, padT, padB = 56, 16, 12, 48
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	maxLabels              = 24 // x labels drawn at most; others are skipped
)

// drawChart draws chart i of a report's data.
func drawChart(i int, c bitnobi.ChartData) chartView {
	cv := chartView{ID: "chart-" + strconv.Itoa(i+1), Type: c.Type, Title: c.Title, Text: c.Text, Error: c.Error, More: c.More}
	if cv.Title == "" && c.Type != bitnobi.ChartText {
		cv.Title = strings.Join(c.Y, ", ")
		if c.X != "" {
			cv.Title += " by " + c.X
		}
	}
	if c.Error != "" {
		return cv
	}
	switch c.Type {
	case bitnobi.ChartTable:
		cv.Columns = c.Columns
		for _, row := range c.Rows {
			cv.Rows = append(cv.Rows, cells(row))
		}
		return cv
	case bitnobi.ChartText:
		return cv
	}
	for j, s := range c.Series {
		cv.Legend = append(cv.Legend, legendItem{s.Name, color(j)})
	}
	if len(c.Labels) == 0 {
		cv.Error = "The result has no rows to draw."
		return cv
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title">`, chartW, chartH, cv.ID)
	fmt.Fprintf(&b, `<title id="%s-title">%s chart: %s</title>`, cv.ID, html.EscapeString(c.Type), html.EscapeString(cv.Title))
	switch c.Type {
	case bitnobi.ChartPie:
		drawPie(&b, c)
	case bitnobi.ChartScatter:
		drawXY(&b, c, true)
	case bitnobi.ChartLine:
		drawXY(&b, c, false)
	default:
		drawBars(&b, c)
	}
	b.WriteString(`</svg>`)
	cv.SVG = template.HTML(b.String()) // every text in it is escaped
	if c.Type == bitnobi.ChartPie {
		cv.Legend = nil
		for j, l := range c.Labels {
			cv.Legend = append(cv.Legend, legendItem{cellText(l), color(j)})
		}
	}
	return cv
}

// num returns a series value as a float, and whether it is one.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// yRange returns the value range of every series, with 0 included.
func yRange(series []bitnobi.Series) (lo, hi float64) {
	for _, s := range series {
		for _, v := range s.Values {
			if f, ok := num(v); ok {
				lo, hi = math.Min(lo, f), math.Max(hi, f)
			}
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	return lo, hi
}

// axes draws the y axis with gridlines between lo and hi and returns the
// function placing a value.
func axes(b *strings.Builder, lo, hi float64) func(float64) float64 {
	y := func(v float64) float64 { return padT + plotH - (v-lo)/(hi-lo)*plotH }
	for k := 0; k <= 4; k++ {
		v := lo + (hi-lo)*float64(k)/4
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d6dbe3"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="14" text-anchor="end" fill="#5b6474">%s</text>`, padL-6, y(v)+4, html.EscapeString(shortNum(v)))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#5b6474"/>`, padL, chartW-padR, y(math.Max(lo, 0)), y(math.Max(lo, 0)))
	return y
}

// xLabels draws the labels under n evenly spaced slots.
func xLabels(b *strings.Builder, labels []any, slot func(int) float64) {
	step := max(1, (len(labels)+maxLabels-1)/maxLabels)
	for i := 0; i < len(labels); i += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="14" text-anchor="middle" fill="#1d2330">%s</text>`, slot(i), chartH-padB+16, html.EscapeString(clipText(cellText(labels[i]), 12)))
	}
}

func drawBars(b *strings.Builder, c bitnobi.ChartData) {
	lo, hi := yRange(c.Series)
	y := axes(b, lo, hi)
	n, k := len(c.Labels), len(c.Series)
	slotW := float64(plotW) / float64(n)
	barW := slotW * 0.8 / float64(k)
	for j, s := range c.Series {
		for i, v := range s.Values {
			f, ok := num(v)
			if !ok {
				continue
			}
			x := padL + float64(i)*slotW + slotW*0.1 + float64(j)*barW
			top, bot := y(math.Max(f, 0)), y(math.Min(f, 0))
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`,
				x, top, math.Max(barW-1, 0.5), math.Max(bot-top, 0.5), color(j), html.EscapeString(cellText(c.Labels[i])), html.EscapeString(s.Name), html.EscapeString(shortNum(f)))
		}
	}
	xLabels(b, c.Labels, func(i int) float64 { return padL + (float64(i)+0.5)*slotW })
}

// drawXY draws a line chart (x in row order) or a scatter plot (x by
// value when every x is a number, else in row order).
func drawXY(b *strings.Builder, c bitnobi.ChartData, scatter bool) {
	lo, hi := yRange(c.Series)
	y := axes(b, lo, hi)
	n := len(c.Labels)
	xs := make([]float64, n)
	numeric := scatter
	for i, l := range c.Labels {
		f, ok := num(number(l))
		numeric = numeric && ok
		xs[i] = f
	}
	var x func(i int) float64
	if numeric {
		xlo, xhi := xs[0], xs[0]
		for _, f := range xs {
			xlo, xhi = math.Min(xlo, f), math.Max(xhi, f)
		}
		if xhi == xlo { // one x value: draw it in the middle
			xlo, xhi = xlo-1, xhi+1
		}
		x = func(i int) float64 { return padL + (xs[i]-xlo)/(xhi-xlo)*plotW }
		for k := 0; k <= 4; k++ {
			v := xlo + (xhi-xlo)*float64(k)/4
			fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="14" text-anchor="middle" fill="#1d2330">%s</text>`, padL+float64(k)/4*plotW, chartH-padB+16, html.EscapeString(shortNum(v)))
		}
	} else {
		slotW := float64(plotW) / float64(max(n, 1))
		x = func(i int) float64 { return padL + (float64(i)+0.5)*slotW }
		xLabels(b, c.Labels, x)
	}
	for j, s := range c.Series {
		var pts []string
		for i, v := range s.Values {
			f, ok := num(v)
			if !ok {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(f)))
			if scatter || n <= 60 {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%d" fill="%s"><title>%s, %s: %s</title></circle>`, x(i), y(f), map[bool]int{true: 4, false: 3}[scatter], color(j),
					html.EscapeString(cellText(c.Labels[i])), html.EscapeString(s.Name), html.EscapeString(shortNum(f)))
			}
		}
		if !scatter && len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), color(j))
		}
	}
}

func drawPie(b *strings.Builder, c bitnobi.ChartData) {
	vals := c.Series[0].Values
	total := 0.0
	for _, v := range vals {
		if f, ok := num(v); ok && f > 0 {
			total += f
		}
	}
	cx, cy, r := float64(chartW)/2, float64(chartH)/2, float64(chartH)/2-16
	if total == 0 {
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#5b6474">No positive values to draw.</text>`, cx, cy)
		return
	}
	a := -math.Pi / 2
	for i, v := range vals {
		f, ok := num(v)
		if !ok || f <= 0 {
			continue
		}
		da := f / total * 2 * math.Pi
		label := fmt.Sprintf("%s: %s (%.0f%%)", cellText(c.Labels[i]), shortNum(f), f/total*100)
		if da >= 2*math.Pi-1e-9 {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s</title></circle>`, cx, cy, r, color(i), html.EscapeString(label))
			continue
		}
		x1, y1 := cx+r*math.Cos(a), cy+r*math.Sin(a)
		x2, y2 := cx+r*math.Cos(a+da), cy+r*math.Sin(a+da)
		large := 0
		if da > math.Pi {
			large = 1
		}
		fmt.Fprintf(b, `<path d="M%.1f,%.1f L%.1f,%.1f A%.1f,%.1f 0 %d 1 %.1f,%.1f z" fill="%s" stroke="#fff"><title>%s</title></path>`, cx, cy, x1, y1, r, r, large, x2, y2, color(i), html.EscapeString(label))
		a += da
	}
}

// number reads a label as a number when it is one (text included).
func number(v any) any {
	if s, ok := v.(string); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
		return nil
	}
	return v
}

// shortNum formats a number for an axis or a tooltip.
func shortNum(f float64) string {
	switch a := math.Abs(f); {
	case a >= 1e9:
		return strconv.FormatFloat(f/1e9, 'f', 1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', 1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + "k"
	case a == math.Trunc(a):
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}
