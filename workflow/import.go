package workflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/bitnobi/bitnobi"
)

// ctxEvery is how many rows a source reads between checks of its context.
const ctxEvery = 256

// csvRows reads a CSV file with a header line, a row at a time.
type csvRows struct {
	ctx  context.Context
	rc   io.ReadCloser
	r    *csv.Reader
	cols []string
	n    int
}

// newCSVReader reads the header of the CSV file rc. An empty header field
// is named column_N (N counting from 1); a repeated name is an error.
func newCSVReader(ctx context.Context, rc io.ReadCloser) (Rows, error) {
	r := csv.NewReader(bufio.NewReaderSize(rc, 64<<10))
	header, err := r.Read()
	if err == io.EOF {
		rc.Close()
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "the CSV file is empty: it needs a header line.")
	} else if err != nil {
		rc.Close()
		return nil, csvError(err)
	}
	if len(header) > 0 {
		header[0] = string(bytes.TrimPrefix([]byte(header[0]), []byte("\ufeff")))
	}
	seen := map[string]bool{}
	for i, h := range header {
		if h == "" {
			h = "column_" + strconv.Itoa(i+1)
			header[i] = h
		}
		if seen[h] {
			rc.Close()
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "the CSV header names column %q twice.", h)
		}
		seen[h] = true
	}
	return &csvRows{ctx: ctx, rc: rc, r: r, cols: header}, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return bitnobi.Errorf(bitnobi.EINVALID, "CSV: %v.", pe)
	}
	return fmt.Errorf("read csv: %w", err)
}

func (c *csvRows) Columns() []string { return c.cols }
func (c *csvRows) Close() error      { return c.rc.Close() }

func (c *csvRows) Next() ([]any, error) {
	if c.n++; c.n%ctxEvery == 0 {
		if err := c.ctx.Err(); err != nil {
			return nil, err
		}
	}
	rec, err := c.r.Read()
	if err == io.EOF {
		return nil, io.EOF
	} else if err != nil {
		return nil, csvError(err)
	}
	row := make([]any, len(rec))
	for i, v := range rec {
		row[i] = v
	}
	return row, nil
}

// jsonRows reads a JSON array of objects, an object at a time. The columns
// are the keys in order of first appearance: when rc can seek, a first pass
// collects every object's keys; otherwise the first object's keys are the
// columns and another key later is an error. A missing key or a null is
// null; every other value becomes text (numbers and booleans as written,
// objects and arrays as compact JSON).
type jsonRows struct {
	ctx  context.Context
	rc   io.ReadCloser
	dec  *json.Decoder
	cols []string
	idx  map[string]int
	n    int
	// first is the first object, read to find the columns of an input
	// that cannot seek.
	first map[string]any
	fixed bool // no first pass: keys outside cols are an error
}

func newJSONReader(ctx context.Context, rc io.ReadCloser) (Rows, error) {
	j := &jsonRows{ctx: ctx, rc: rc, idx: map[string]int{}}
	addKey := func(k string) {
		if _, ok := j.idx[k]; !ok {
			j.idx[k] = len(j.cols)
			j.cols = append(j.cols, k)
		}
	}
	if s, ok := rc.(io.Seeker); ok {
		if err := j.start(rc); err != nil {
			rc.Close()
			return nil, err
		}
		for n := 1; j.dec.More(); n++ {
			if n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					rc.Close()
					return nil, err
				}
			}
			if err := j.object(func(k string, _ json.RawMessage) { addKey(k) }); err != nil {
				rc.Close()
				return nil, err
			}
		}
		if _, err := s.Seek(0, io.SeekStart); err != nil {
			rc.Close()
			return nil, fmt.Errorf("rewind json: %w", err)
		}
		if err := j.start(rc); err != nil {
			rc.Close()
			return nil, err
		}
		return j, nil
	}
	if err := j.start(rc); err != nil {
		rc.Close()
		return nil, err
	}
	j.fixed = true
	if j.dec.More() {
		j.first = map[string]any{}
		err := j.object(func(k string, v json.RawMessage) {
			addKey(k)
			j.first[k] = jsonValue(v)
		})
		if err != nil {
			rc.Close()
			return nil, err
		}
	}
	return j, nil
}

// start begins decoding r, reading the opening bracket.
func (j *jsonRows) start(r io.Reader) error {
	j.dec = json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	j.dec.UseNumber()
	t, err := j.dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return bitnobi.Errorf(bitnobi.EINVALID, "the JSON file must hold an array of objects.")
	}
	return nil
}

// object reads one object, calling fn for each key and value in order.
func (j *jsonRows) object(fn func(key string, v json.RawMessage)) error {
	t, err := j.dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return bitnobi.Errorf(bitnobi.EINVALID, "the JSON array must hold only objects (found %v at byte %d).", t, j.dec.InputOffset())
	}
	for j.dec.More() {
		t, err := j.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := j.dec.Decode(&v); err != nil {
			return jsonError(err)
		}
		fn(k, v)
	}
	if _, err := j.dec.Token(); err != nil { // '}'
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return bitnobi.Errorf(bitnobi.EINVALID, "JSON: %v (at byte %d).", se, se.Offset)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return bitnobi.Errorf(bitnobi.EINVALID, "JSON: the file ends early.")
	}
	return fmt.Errorf("read json: %w", err)
}

// jsonValue turns one JSON value into a row value.
func jsonValue(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.String()
		}
	}
	return string(raw) // numbers, true, false
}

func (j *jsonRows) Columns() []string { return j.cols }
func (j *jsonRows) Close() error      { return j.rc.Close() }

func (j *jsonRows) Next() ([]any, error) {
	if j.first != nil {
		row := make([]any, len(j.cols))
		for k, v := range j.first {
			row[j.idx[k]] = v
		}
		j.first = nil
		return row, nil
	}
	if j.n++; j.n%ctxEvery == 0 {
		if err := j.ctx.Err(); err != nil {
			return nil, err
		}
	}
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil { // ']'
			return nil, jsonError(err)
		}
		if _, err := j.dec.Token(); err != io.EOF {
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "JSON: data after the array.")
		}
		return nil, io.EOF
	}
	row := make([]any, len(j.cols))
	var bad string
	err := j.object(func(k string, v json.RawMessage) {
		i, ok := j.idx[k]
		if !ok {
			bad = k
			return
		}
		row[i] = jsonValue(v)
	})
	if err != nil {
		return nil, err
	}
	if bad != "" && j.fixed {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "JSON: key %q is not in the first object.", bad)
	}
	return row, nil
}
