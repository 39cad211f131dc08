package workflow

import (
	"io"
	"math"
	"slices"

	"github.com/bitnobi/bitnobi"
)

// columnIndex returns the position of each name in cols.
func columnIndex(cols []string) map[string]int {
	m := make(map[string]int, len(cols))
	for i, c := range cols {
		m[c] = i
	}
	return m
}

func noColumn(name string, cols []string) error {
	return bitnobi.Errorf(bitnobi.EINVALID, "no column %q in the input (it has %q).", name, cols)
}

// selectRows keeps some columns of the rows that meet every condition.
type selectRows struct {
	in    Rows
	cols  []string
	keep  []int // input positions of the output columns
	conds []bitnobi.Condition
	at    []int // input position of each condition's column
}

func newSelect(in Rows, c bitnobi.SelectConfig) (Rows, error) {
	idx := columnIndex(in.Columns())
	s := &selectRows{in: in, conds: c.Where}
	if len(c.Columns) == 0 {
		s.cols = in.Columns()
	} else {
		s.cols = c.Columns
		for _, name := range c.Columns {
			i, ok := idx[name]
			if !ok {
				return nil, noColumn(name, in.Columns())
			}
			s.keep = append(s.keep, i)
		}
	}
	for _, w := range c.Where {
		i, ok := idx[w.Column]
		if !ok {
			return nil, noColumn(w.Column, in.Columns())
		}
		s.at = append(s.at, i)
	}
	return s, nil
}

func (s *selectRows) Columns() []string { return s.cols }
func (s *selectRows) Close() error      { return s.in.Close() }

func (s *selectRows) Next() ([]any, error) {
next:
	for {
		row, err := s.in.Next()
		if err != nil {
			return nil, err
		}
		for i, w := range s.conds {
			if !matches(row[s.at[i]], w.Op, w.Value) {
				continue next
			}
		}
		if s.keep == nil {
			return row, nil
		}
		out := make([]any, len(s.keep))
		for i, j := range s.keep {
			out[i] = row[j]
		}
		return out, nil
	}
}

// alterRows renames columns and casts values.
type alterRows struct {
	in    Rows
	cols  []string
	at    []int // positions to cast
	types []string
	n     int64
}

func newAlter(in Rows, c bitnobi.AlterConfig) (Rows, error) {
	cols := slices.Clone(in.Columns())
	for _, r := range c.Rename {
		i := slices.Index(cols, r.From)
		if i < 0 {
			return nil, noColumn(r.From, cols)
		}
		if j := slices.Index(cols, r.To); j >= 0 && j != i {
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "cannot rename %q to %q: there is a column %q already.", r.From, r.To, r.To)
		}
		cols[i] = r.To
	}
	a := &alterRows{in: in, cols: cols}
	for _, cs := range c.Cast {
		i := slices.Index(cols, cs.Column)
		if i < 0 {
			return nil, noColumn(cs.Column, cols)
		}
		a.at = append(a.at, i)
		a.types = append(a.types, cs.Type)
	}
	return a, nil
}

func (a *alterRows) Columns() []string { return a.cols }
func (a *alterRows) Close() error      { return a.in.Close() }

func (a *alterRows) Next() ([]any, error) {
	row, err := a.in.Next()
	if err != nil {
		return nil, err
	}
	a.n++
	for k, i := range a.at {
		v, err := cast(row[i], a.types[k])
		if err != nil {
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "row %d, column %q: %s", a.n, a.cols[i], bitnobi.ErrorMessage(err))
		}
		row[i] = v
	}
	return row, nil
}

// groupRows reads its whole input, then returns one row per group in the
// order the groups first appeared.
type groupRows struct {
	in   Rows
	cols []string
	by   []int
	aggs []bitnobi.Aggregate
	at   []int // input position of each aggregate's column, -1 for none
	out  [][]any
	done bool
}

// groupState accumulates one group.
type groupState struct {
	key  []any
	accs []acc
}

// acc accumulates one aggregate of one group.
type acc struct {
	n     int64 // values seen (rows, for count without a column)
	isInt bool  // every value so far an integer (sum)
	isum  int64
	fsum  float64
	best  any // min or max so far
}

func newGroup(in Rows, c bitnobi.GroupConfig) (Rows, error) {
	idx := columnIndex(in.Columns())
	g := &groupRows{in: in, aggs: c.Aggregates}
	for _, name := range c.By {
		i, ok := idx[name]
		if !ok {
			return nil, noColumn(name, in.Columns())
		}
		g.by = append(g.by, i)
		g.cols = append(g.cols, name)
	}
	for _, a := range c.Aggregates {
		i := -1
		if a.Column != "" {
			var ok bool
			if i, ok = idx[a.Column]; !ok {
				return nil, noColumn(a.Column, in.Columns())
			}
		}
		g.at = append(g.at, i)
		g.cols = append(g.cols, a.Name())
	}
	return g, nil
}

func (g *groupRows) Columns() []string { return g.cols }
func (g *groupRows) Close() error      { return g.in.Close() }

func (g *groupRows) Next() ([]any, error) {
	if !g.done {
		if err := g.run(); err != nil {
			return nil, err
		}
		g.done = true
	}
	if len(g.out) == 0 {
		return nil, io.EOF
	}
	row := g.out[0]
	g.out[0] = nil
	g.out = g.out[1:]
	return row, nil
}

func (g *groupRows) run() error {
	groups := map[string]*groupState{}
	var order []*groupState
	var key []byte
	for {
		row, err := g.in.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		key = key[:0]
		for _, i := range g.by {
			key = appendKey(key, row[i])
		}
		st, ok := groups[string(key)]
		if !ok {
			st = &groupState{accs: make([]acc, len(g.aggs))}
			for _, i := range g.by {
				st.key = append(st.key, row[i])
			}
			for k := range st.accs {
				st.accs[k].isInt = true
			}
			groups[string(key)] = st
			order = append(order, st)
		}
		for k, a := range g.aggs {
			if err := st.accs[k].add(a, g.value(row, k)); err != nil {
				return err
			}
		}
	}
	// Without grouping columns, aggregates over no rows still make a row,
	// as in SQL.
	if len(g.by) == 0 && len(order) == 0 {
		st := &groupState{accs: make([]acc, len(g.aggs))}
		order = append(order, st)
	}
	g.out = make([][]any, 0, len(order))
	for _, st := range order {
		row := append([]any(nil), st.key...)
		for k, a := range g.aggs {
			row = append(row, st.accs[k].result(a))
		}
		g.out = append(g.out, row)
	}
	return nil
}

// value returns the input of aggregate k in row; a count without a column
// sees a non-null marker for every row.
func (g *groupRows) value(row []any, k int) any {
	if g.at[k] < 0 {
		return true
	}
	return row[g.at[k]]
}

func (s *acc) add(a bitnobi.Aggregate, v any) error {
	if v == nil {
		return nil
	}
	switch a.Op {
	case bitnobi.AggCount:
		s.n++
	case bitnobi.AggSum, bitnobi.AggAvg:
		if v == "" {
			return nil // an empty CSV field is a missing value
		}
		if n, ok := asInt(v); ok && s.isInt {
			if sum := s.isum + n; (n > 0 && sum < s.isum) || (n < 0 && sum > s.isum) {
				s.isInt = false // overflow: go on in floating point
			} else {
				s.isum = sum
			}
		} else {
			s.isInt = false
		}
		f, ok := asFloat(v)
		if !ok {
			return bitnobi.Errorf(bitnobi.EINVALID, "cannot %s %q: not a number.", a.Op, text(v))
		}
		s.fsum += f
		s.n++
	case bitnobi.AggMin:
		if s.n == 0 || compare(v, s.best) < 0 {
			s.best = v
		}
		s.n++
	case bitnobi.AggMax:
		if s.n == 0 || compare(v, s.best) > 0 {
			s.best = v
		}
		s.n++
	}
	return nil
}

func (s *acc) result(a bitnobi.Aggregate) any {
	switch a.Op {
	case bitnobi.AggCount:
		return s.n
	case bitnobi.AggSum:
		switch {
		case s.n == 0:
			return nil
		case s.isInt:
			return s.isum
		}
		return s.fsum
	case bitnobi.AggAvg:
		if s.n == 0 {
			return nil
		}
		avg := s.fsum / float64(s.n)
		if math.IsInf(avg, 0) || math.IsNaN(avg) {
			return nil
		}
		return avg
	}
	return s.best // min, max; nil when no values
}

// joinRows is the inner or left join of two inputs on a key column of
// each: the right input is read into a hash table keyed by its key
// column's text, then the left one is streamed. Nulls match nothing, as in
// SQL. A left join keeps every left row, padding it with nulls when no
// right row matches.
type joinRows struct {
	left, right Rows
	cols        []string
	lon, ron    int
	keepRon     bool // the right key column is in the output
	leftJoin    bool
	table       map[string][][]any
	built       bool
	row         []any   // current left row
	matches     [][]any // right rows still to pair with it
}

func newJoin(left, right Rows, c bitnobi.JoinConfig) (Rows, error) {
	lkey, rkey := c.Keys()
	lon := slices.Index(left.Columns(), lkey)
	if lon < 0 {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "no column %q in the left input (it has %q).", lkey, left.Columns())
	}
	ron := slices.Index(right.Columns(), rkey)
	if ron < 0 {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "no column %q in the right input (it has %q).", rkey, right.Columns())
	}
	// The right key is left out when it has the left key's name: it would
	// repeat it (and old graphs, which name one column, expect that).
	keepRon := lkey != rkey
	cols := slices.Clone(left.Columns())
	for i, name := range right.Columns() {
		if i == ron && !keepRon {
			continue
		}
		if slices.Contains(left.Columns(), name) {
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "both inputs have a column %q: rename one with an alter element first.", name)
		}
		cols = append(cols, name)
	}
	return &joinRows{left: left, right: right, cols: cols, lon: lon, ron: ron, keepRon: keepRon, leftJoin: c.Kind == bitnobi.JoinLeft}, nil
}

func (j *joinRows) Columns() []string { return j.cols }

func (j *joinRows) Close() error {
	err1 := j.left.Close()
	err2 := j.right.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

func (j *joinRows) Next() ([]any, error) {
	if !j.built {
		j.table = map[string][][]any{}
		for {
			row, err := j.right.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
			if row[j.ron] == nil {
				continue
			}
			k := text(row[j.ron])
			j.table[k] = append(j.table[k], row)
		}
		j.built = true
	}
	for len(j.matches) == 0 {
		row, err := j.left.Next()
		if err != nil {
			return nil, err
		}
		var m [][]any
		if row[j.lon] != nil {
			m = j.table[text(row[j.lon])]
		}
		if len(m) == 0 && j.leftJoin {
			out := make([]any, len(j.cols))
			copy(out, row)
			return out, nil
		}
		j.row, j.matches = row, m
	}
	r := j.matches[0]
	j.matches = j.matches[1:]
	out := make([]any, 0, len(j.cols))
	out = append(out, j.row...)
	for i, v := range r {
		if i != j.ron || j.keepRon {
			out = append(out, v)
		}
	}
	return out, nil
}

// unionRows returns the rows of its left input, then those of its right
// one with their columns put in the left order. Duplicates are kept.
type unionRows struct {
	left, right Rows
	perm        []int // right position of each left column
	onRight     bool
}

func newUnion(left, right Rows) (Rows, error) {
	lc, rc := left.Columns(), right.Columns()
	if len(lc) != len(rc) {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "the inputs have different columns: %q and %q.", lc, rc)
	}
	idx := columnIndex(rc)
	u := &unionRows{left: left, right: right}
	for _, name := range lc {
		i, ok := idx[name]
		if !ok {
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "the inputs have different columns: %q and %q.", lc, rc)
		}
		u.perm = append(u.perm, i)
	}
	return u, nil
}

func (u *unionRows) Columns() []string { return u.left.Columns() }

func (u *unionRows) Close() error {
	err1 := u.left.Close()
	err2 := u.right.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

func (u *unionRows) Next() ([]any, error) {
	if !u.onRight {
		row, err := u.left.Next()
		if err != io.EOF {
			return row, err
		}
		u.onRight = true
	}
	row, err := u.right.Next()
	if err != nil {
		return nil, err
	}
	out := make([]any, len(u.perm))
	for i, j := range u.perm {
		out[i] = row[j]
	}
	return out, nil
}
