// Package workflow runs workflow graphs (see [bitnobi.Graph]).
//
// Elements are evaluated lazily, as a pipeline of row streams ([Rows]):
// an Importer reads its CSV or JSON file a row at a time, and Select,
// Alter, Union and Result pass rows through one by one, so a run over a
// large file holds only a few rows at once. Three things are held in
// memory, which this version accepts: the groups of a Group element, the
// right input of a Join (built into a hash table), and the rows of an
// element that feeds more than one other element (computed once, then
// replayed to each). Whoever consumes the result may stream it (the store
// writes it to a blob as JSON Lines, see [WriteJSONL]).
//
// Values are nil (null), string, int64 or float64. Every column an
// Importer reads is a string; an Alter element casts columns to numbers.
//
// Errors meant for the user who started the run are [*bitnobi.Error]s
// whose message names the element; anything else is an internal error.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bitnobi/bitnobi"
)

// Rows is a stream of rows with fixed columns. It is not safe for
// concurrent use.
type Rows interface {
	// Columns returns the column names. The caller must not change them.
	Columns() []string
	// Next returns the next row, one value per column, or io.EOF after the
	// last one. The caller owns the returned slice.
	Next() ([]any, error)
	// Close releases what the stream holds (open files), and its inputs'.
	Close() error
}

// Inputs opens what source elements read. The store implements it with
// the access rules of the user who starts the run.
type Inputs interface {
	// OpenDataSource opens an uploaded file data source, for an Importer.
	OpenDataSource(ctx context.Context, id string) (io.ReadCloser, *bitnobi.DataSource, error)
	// OpenResult opens the last succeeded result of a workflow as JSON
	// Lines, for a Datasource element.
	OpenResult(ctx context.Context, workflowID string) (*bitnobi.WorkflowRun, io.ReadCloser, error)
}

// Run validates g, builds the pipeline that ends at its Result element and
// returns the result's rows; the caller reads them and closes them. Only
// elements the Result depends on are evaluated. Sources are opened before
// Run returns; the data is read as the rows are.
func Run(ctx context.Context, g *bitnobi.Graph, in Inputs) (Rows, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	b := &builder{ctx: ctx, in: in, inputs: map[string][]string{}, shared: map[string]*table{}}
	for _, e := range g.Edges {
		b.inputs[e.To] = append(b.inputs[e.To], e.From)
	}
	var result string
	b.byID = make(map[string]*bitnobi.Element, len(g.Elements))
	for i := range g.Elements {
		el := &g.Elements[i]
		b.byID[el.ID] = el
		if el.Type == bitnobi.ElementResult {
			result = el.ID
		}
	}
	// Count the consumers of each element the result depends on, so that
	// an element feeding several is computed once.
	b.consumers = map[string]int{}
	seen := map[string]bool{}
	var walk func(id string)
	walk = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		for _, from := range b.inputs[id] {
			b.consumers[from]++
			walk(from)
		}
	}
	walk(result)
	return b.build(result)
}

// builder turns elements into row streams.
type builder struct {
	ctx       context.Context
	in        Inputs
	byID      map[string]*bitnobi.Element
	inputs    map[string][]string // element -> its inputs, in edge order
	consumers map[string]int
	shared    map[string]*table // computed elements that feed several others
}

// build returns the rows of element id. Closing them closes the streams
// of its inputs; on error, build has closed whatever it opened.
func (b *builder) build(id string) (Rows, error) {
	if t, ok := b.shared[id]; ok {
		return t.cursor(), nil
	}
	el := b.byID[id]
	var ins []Rows
	closeIns := func() {
		for _, r := range ins {
			r.Close()
		}
	}
	for _, from := range b.inputs[id] {
		r, err := b.build(from)
		if err != nil {
			closeIns()
			return nil, err
		}
		ins = append(ins, r)
	}
	rows, err := b.element(el, ins)
	if err != nil {
		closeIns()
		return nil, elementError(el, err)
	}
	rows = &named{Rows: rows, el: el}
	if b.consumers[id] > 1 {
		t, err := readTable(rows)
		if err != nil {
			return nil, err
		}
		b.shared[id] = t
		return t.cursor(), nil
	}
	return rows, nil
}

func (b *builder) element(el *bitnobi.Element, ins []Rows) (Rows, error) {
	switch el.Type {
	case bitnobi.ElementImporter:
		var c bitnobi.ImporterConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return b.importer(c)
	case bitnobi.ElementDatasource:
		var c bitnobi.WorkflowRefConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, err
		}
		run, rc, err := b.in.OpenResult(b.ctx, c.WorkflowID)
		if err != nil {
			return nil, err
		}
		return NewJSONLReader(b.ctx, run.ResultColumns, rc), nil
	case bitnobi.ElementSelect:
		var c bitnobi.SelectConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return newSelect(ins[0], c)
	case bitnobi.ElementAlter:
		var c bitnobi.AlterConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return newAlter(ins[0], c)
	case bitnobi.ElementGroup:
		var c bitnobi.GroupConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return newGroup(ins[0], c)
	case bitnobi.ElementJoin:
		var c bitnobi.JoinConfig
		if err := el.DecodeConfig(&c); err != nil {
			return nil, err
		}
		return newJoin(ins[0], ins[1], c)
	case bitnobi.ElementUnion:
		return newUnion(ins[0], ins[1])
	case bitnobi.ElementResult:
		return ins[0], nil
	}
	if rows, ok, err := b.extraElement(el, ins); ok {
		return rows, err
	}
	return nil, unsupported(el)
}

func (b *builder) importer(c bitnobi.ImporterConfig) (Rows, error) {
	rc, ds, err := b.in.OpenDataSource(b.ctx, c.DataSourceID)
	if err != nil {
		return nil, err
	}
	switch ds.Format {
	case bitnobi.FormatCSV:
		return newCSVReader(b.ctx, rc)
	case bitnobi.FormatJSON:
		return newJSONReader(b.ctx, rc)
	}
	rc.Close()
	return nil, bitnobi.Errorf(bitnobi.EUNSUPPORTED, "data source %s has format %q, which an importer does not read.", ds.ID, ds.Format)
}

// elementError prefixes a user-facing error with the element it is about,
// once: an error already about an element passes through unchanged.
func elementError(el *bitnobi.Element, err error) error {
	var done *elemError
	if errors.As(err, &done) {
		return err
	}
	var e *bitnobi.Error
	if errors.As(err, &e) {
		return &elemError{&bitnobi.Error{Code: e.Code, Message: fmt.Sprintf("Element %q (%s): %s", el.ID, el.Type, e.Message)}}
	}
	return &elemError{fmt.Errorf("element %q (%s): %w", el.ID, el.Type, err)}
}

// elemError marks an error that names its element.
type elemError struct{ err error }

func (e *elemError) Error() string { return e.err.Error() }
func (e *elemError) Unwrap() error { return e.err }

// named prefixes the errors of an element's rows with the element.
type named struct {
	Rows
	el *bitnobi.Element
}

func (n *named) Next() ([]any, error) {
	row, err := n.Rows.Next()
	if err != nil && err != io.EOF {
		return nil, elementError(n.el, err)
	}
	return row, err
}

// ReadAll reads every row of rows and closes it.
func ReadAll(rows Rows) ([][]any, error) {
	defer rows.Close()
	var out [][]any
	for {
		row, err := rows.Next()
		if err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, err
		}
		out = append(out, row)
	}
}

// table is rows held in memory.
type table struct {
	cols []string
	rows [][]any
}

func readTable(r Rows) (*table, error) {
	rows, err := ReadAll(r)
	if err != nil {
		return nil, err
	}
	return &table{cols: r.Columns(), rows: rows}, nil
}

// cursor returns a stream over t's rows; each row it returns is a copy.
func (t *table) cursor() Rows { return &tableRows{t: t} }

type tableRows struct {
	t *table
	i int
}

func (r *tableRows) Columns() []string { return r.t.cols }
func (r *tableRows) Close() error      { return nil }
func (r *tableRows) Next() ([]any, error) {
	if r.i >= len(r.t.rows) {
		return nil, io.EOF
	}
	row := append([]any(nil), r.t.rows[r.i]...)
	r.i++
	return row, nil
}

// NewRows returns a stream over rows held in memory (for tests and small
// inputs). The rows are copied as they are read.
func NewRows(cols []string, rows [][]any) Rows { return (&table{cols: cols, rows: rows}).cursor() }
