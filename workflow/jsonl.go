package workflow

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteJSONL writes every row of rows to w as JSON Lines: one JSON array
// per row, then a newline. Strings are JSON strings, int64s integers,
// float64s numbers that always have a fraction or exponent (so that
// [NewJSONLReader] gives back the same types), and nil, NaN and
// infinities null. It returns the number of rows written. It does not
// close rows.
func WriteJSONL(w io.Writer, rows Rows) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var n int64
	var buf []byte
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return n, err
		}
		buf = AppendJSONRow(buf[:0], row)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}

// AppendJSONRow appends row as a JSON array to b.
func AppendJSONRow(b []byte, row []any) []byte {
	b = append(b, '[')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		switch x := v.(type) {
		case string:
			q, _ := json.Marshal(x) // a string always marshals
			b = append(b, q...)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				b = append(b, "null"...)
				break
			}
			s := strconv.FormatFloat(x, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			b = append(b, s...)
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, ']')
}

// jsonlRows reads rows written by [WriteJSONL].
type jsonlRows struct {
	ctx  context.Context
	rc   io.ReadCloser
	dec  *json.Decoder
	cols []string
	n    int
}

// NewJSONLReader reads the JSON Lines rows of rc, which have the given
// columns. Closing the rows closes rc.
func NewJSONLReader(ctx context.Context, cols []string, rc io.ReadCloser) Rows {
	dec := json.NewDecoder(bufio.NewReaderSize(rc, 64<<10))
	dec.UseNumber()
	return &jsonlRows{ctx: ctx, rc: rc, dec: dec, cols: cols}
}

func (j *jsonlRows) Columns() []string { return j.cols }
func (j *jsonlRows) Close() error      { return j.rc.Close() }

func (j *jsonlRows) Next() ([]any, error) {
	if j.n++; j.n%ctxEvery == 0 {
		if err := j.ctx.Err(); err != nil {
			return nil, err
		}
	}
	var raw []any
	if err := j.dec.Decode(&raw); err == io.EOF {
		return nil, io.EOF
	} else if err != nil {
		return nil, fmt.Errorf("read result row %d: %w", j.n, err)
	}
	if len(raw) != len(j.cols) {
		return nil, fmt.Errorf("read result row %d: %d values for %d columns", j.n, len(raw), len(j.cols))
	}
	for i, v := range raw {
		switch x := v.(type) {
		case nil, string:
		case json.Number:
			if !strings.ContainsAny(string(x), ".eE") {
				n, err := x.Int64()
				if err != nil {
					return nil, fmt.Errorf("read result row %d: %w", j.n, err)
				}
				raw[i] = n
			} else {
				f, err := x.Float64()
				if err != nil {
					return nil, fmt.Errorf("read result row %d: %w", j.n, err)
				}
				raw[i] = f
			}
		default:
			return nil, errors.New("read result: a value is neither null, a string nor a number")
		}
	}
	return raw, nil
}
