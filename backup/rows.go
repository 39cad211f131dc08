package backup

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/bitnobi/bitnobi/store"
)

// maxRowSize bounds one line of a table file, so that a damaged file
// cannot make a restore allocate without limit.
const maxRowSize = 512 << 20

// appendRow appends row as one JSON line: an array of the values in
// column order, then "\n". The encoding per column type is documented in
// docs/backup-format.md:
//
//	NULL                  null
//	TEXT                  a JSON string; text that is not valid UTF-8 as {"base64": "..."}
//	INTEGER               a JSON integer
//	REAL                  a JSON number in Go's shortest form; ±Inf as "Infinity"/"-Infinity"
func appendRow(buf []byte, cols []store.Column, row []any) ([]byte, error) {
	if len(row) != len(cols) {
		return buf, fmt.Errorf("row has %d values, table has %d columns", len(row), len(cols))
	}
	buf = append(buf, '[')
	for i, c := range cols {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendValue(buf, c, row[i]); err != nil {
			return buf, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return append(buf, ']', '\n'), nil
}

func appendValue(buf []byte, c store.Column, v any) ([]byte, error) {
	if v == nil {
		return append(buf, "null"...), nil
	}
	switch c.Type {
	case "TEXT":
		if s, ok := v.(string); ok {
			if utf8.ValidString(s) {
				return appendString(buf, s), nil
			}
			buf = append(buf, `{"base64":"`...)
			buf = base64.StdEncoding.AppendEncode(buf, []byte(s))
			return append(buf, `"}`...), nil
		}
	case "INTEGER":
		if n, ok := v.(int64); ok {
			return strconv.AppendInt(buf, n, 10), nil
		}
	case "REAL":
		if f, ok := v.(float64); ok {
			switch {
			case math.IsInf(f, 1):
				return append(buf, `"Infinity"`...), nil
			case math.IsInf(f, -1):
				return append(buf, `"-Infinity"`...), nil
			case math.IsNaN(f):
				return buf, errors.New("NaN cannot be stored")
			}
			return strconv.AppendFloat(buf, f, 'g', -1, 64), nil
		}
	}
	return buf, fmt.Errorf("value of Go type %T does not fit column type %s", v, c.Type)
}

const hexDigits = "0123456789abcdef"

// appendString appends s, valid UTF-8, as a JSON string.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\t':
			buf = append(buf, '\\', 't')
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// rowReader reads the JSON lines written by [appendRow], one row at a time.
type rowReader struct {
	r    *bufio.Reader
	cols []store.Column
	line []byte
	row  []any
	n    int64 // lines read
}

func newRowReader(r io.Reader, cols []store.Column) *rowReader {
	return &rowReader{r: bufio.NewReaderSize(r, 64<<10), cols: cols, row: make([]any, len(cols))}
}

// next returns the next row, each value a string, int64, float64 or nil,
// in a slice reused by the following call; io.EOF after the last row.
func (rr *rowReader) next() ([]any, error) {
	rr.line = rr.line[:0]
	for {
		chunk, err := rr.r.ReadSlice('\n')
		rr.line = append(rr.line, chunk...)
		if len(rr.line) > maxRowSize {
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrMalformed, rr.n+1, maxRowSize)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			if len(rr.line) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: line %d does not end with a newline (truncated?)", ErrMalformed, rr.n+1)
		}
		return nil, err
	}
	rr.n++
	if err := decodeRow(rr.line, rr.cols, rr.row); err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, rr.n, err)
	}
	return rr.row, nil
}

// decodeRow parses one line into row, converting each value to its
// column's type.
func decodeRow(line []byte, cols []store.Column, row []any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var vals []any
	if err := dec.Decode(&vals); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return errors.New("data after the row's JSON array")
	}
	if vals == nil {
		return errors.New("row is not a JSON array")
	}
	if len(vals) != len(cols) {
		return fmt.Errorf("row has %d values, table has %d columns", len(vals), len(cols))
	}
	for i, c := range cols {
		v, err := decodeValue(c, vals[i])
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		row[i] = v
	}
	return nil
}

func decodeValue(c store.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Type {
	case "TEXT":
		switch x := v.(type) {
		case string:
			return x, nil
		case map[string]any:
			if s, ok := x["base64"].(string); ok && len(x) == 1 {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf("base64 text: %v", err)
				}
				return string(b), nil
			}
		}
	case "INTEGER":
		if x, ok := v.(json.Number); ok {
			n, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not a 64-bit integer", x)
			}
			return n, nil
		}
	case "REAL":
		switch x := v.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not a number", x)
			}
			return f, nil
		case string:
			switch x {
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
	}
	return nil, fmt.Errorf("%v (%T) is not a valid %s value", v, v, c.Type)
}
