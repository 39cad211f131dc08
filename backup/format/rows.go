package format

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The encoding of rows: docs/backup-format.md, "Tables".

// maxRowSize bounds one line of a table file, so that a damaged file
// cannot make a restore allocate without limit.
const maxRowSize = 512 << 20

// AppendRow appends row as one JSON line: an array of the values in
// column order, then "\n". The encoding per column type is documented in
// docs/backup-format.md:
//
//	NULL                  null
//	TEXT                  a JSON string; text that is not valid UTF-8 as {"base64": "..."}
//	INTEGER               a JSON integer
//	REAL                  a JSON number in Go's shortest form; ±Inf as "Infinity"/"-Infinity"
func AppendRow(buf []byte, cols []Column, row []any) ([]byte, error) {
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

func appendValue(buf []byte, c Column, v any) ([]byte, error) {
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

// jsonPlain[c] reports whether appendString copies the byte c as it is:
// every byte but '"', '\\' and the control characters below 0x20 (bytes
// of multi-byte UTF-8 sequences included).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s, valid UTF-8, as a JSON string: " and \
// escaped with a backslash, \n, \r and \t as such, other bytes below
// 0x20 as \u00XX, and every other byte as it is. Runs of plain bytes are
// copied at once: most text needs no escape.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if jsonPlain[c] {
			continue
		}
		buf = append(buf, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// RowReader reads the JSON lines written by [AppendRow], one row at a time.
type RowReader struct {
	r    *bufio.Reader
	cols []Column
	line []byte
	row  []any
	n    int64 // lines read
}

// NewRowReader returns a reader of the rows of a table with columns cols
// from r, a table file's decoded content.
func NewRowReader(r io.Reader, cols []Column) *RowReader {
	return &RowReader{r: bufio.NewReaderSize(r, 64<<10), cols: cols, row: make([]any, len(cols))}
}

// Lines returns the number of lines read so far.
func (rr *RowReader) Lines() int64 { return rr.n }

// Line returns the last line [RowReader.Next] read, newline included,
// in a buffer the next call reuses.
func (rr *RowReader) Line() []byte { return rr.line }

// Next returns the next row, each value a string, int64, float64 or nil,
// in a slice reused by the following call; io.EOF after the last row.
func (rr *RowReader) Next() ([]any, error) {
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
// column's type. It reads exactly the JSON that [AppendRow] writes (and
// JSON whitespace between tokens): an array of strings (with any JSON
// escapes), numbers, nulls and {"base64": "..."} objects; anything else,
// and text that is not valid UTF-8, is refused. It is a hand-written
// replacement for decoding each line with encoding/json, which cost most
// of a restore's parsing time; FuzzDecodeRowJSON checks the two agree.
func decodeRow(line []byte, cols []Column, row []any) error {
	p := rowParser{b: line}
	p.space()
	if !p.eat('[') {
		return errors.New("row is not a JSON array")
	}
	p.space()
	n := 0
	if !p.eat(']') {
		for {
			if n >= len(cols) {
				return fmt.Errorf("row has more than %d values, table has %d columns", len(cols), len(cols))
			}
			v, err := p.value(cols[n])
			if err != nil {
				return fmt.Errorf("column %s: %w", cols[n].Name, err)
			}
			row[n] = v
			n++
			p.space()
			if p.eat(',') {
				p.space()
				continue
			}
			if p.eat(']') {
				break
			}
			return fmt.Errorf("invalid character at offset %d of the row", p.i)
		}
	}
	p.space()
	if p.i < len(p.b) {
		return errors.New("data after the row's JSON array")
	}
	if n != len(cols) {
		return fmt.Errorf("row has %d values, table has %d columns", n, len(cols))
	}
	return nil
}

// rowParser reads the values of one row; i is the offset of the next byte.
type rowParser struct {
	b []byte
	i int
}

func (p *rowParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *rowParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *rowParser) literal(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

var errBadJSON = errors.New("invalid JSON value")

// value reads one value for column c.
func (p *rowParser) value(c Column) (any, error) {
	if p.i >= len(p.b) {
		return nil, errors.New("unexpected end of the row")
	}
	switch ch := p.b[p.i]; {
	case ch == 'n':
		if !p.literal("null") {
			return nil, errBadJSON
		}
		return nil, nil
	case ch == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		switch c.Type {
		case "TEXT":
			return s, nil
		case "REAL":
			switch s {
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
		return nil, fmt.Errorf("%s (string) is not a valid %s value", s, c.Type)
	case ch == '-' || ch >= '0' && ch <= '9':
		num, err := p.number()
		if err != nil {
			return nil, err
		}
		switch c.Type {
		case "INTEGER":
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not a 64-bit integer", num)
			}
			return n, nil
		case "REAL":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not a number", num)
			}
			return f, nil
		}
		return nil, fmt.Errorf("%s (number) is not a valid %s value", num, c.Type)
	case ch == '{':
		// {"base64": "..."}: TEXT that is not valid UTF-8.
		p.i++
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, errBadJSON
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, errBadJSON
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, fmt.Errorf("object is not a valid %s value", c.Type)
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat('}') || key != "base64" || c.Type != "TEXT" {
			return nil, fmt.Errorf("object is not a valid %s value", c.Type)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("base64 text: %v", err)
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("%w at offset %d of the row", errBadJSON, p.i)
}

// number reads a JSON number and returns its text.
func (p *rowParser) number() (string, error) {
	b, start := p.b, p.i
	i := start
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return "", errBadJSON
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return "", errBadJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return "", errBadJSON
		}
	}
	p.i = i
	return string(b[start:i]), nil
}

// str reads a JSON string, p.b[p.i] being its opening quote.
func (p *rowParser) str() (string, error) {
	b := p.b
	start := p.i + 1
	i := start
	// Fast path: no escapes.
	for i < len(b) {
		c := b[i]
		if c == '"' {
			if !utf8.Valid(b[start:i]) {
				return "", errors.New("string is not valid UTF-8")
			}
			p.i = i + 1
			return string(b[start:i]), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		i++
	}
	out := make([]byte, 0, i-start+16)
	out = append(out, b[start:i]...)
	for {
		if i >= len(b) {
			return "", errors.New("unterminated string")
		}
		c := b[i]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return "", errors.New("string is not valid UTF-8")
			}
			p.i = i + 1
			return string(out), nil
		case c < 0x20:
			return "", errors.New("control character in string")
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			return "", errors.New("unterminated string")
		}
		e := b[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, i)
			if !ok {
				return "", errors.New("invalid \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half is U+FFFD, as
				// encoding/json decodes it.
				r2, ok := rune(-1), false
				if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
					r2, ok = hex4(b, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errors.New("invalid escape in string")
		}
	}
}

// hex4 parses the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Column is a column of a table as the manifest lists it (the table's
// "columns"): its name and its type, TEXT, INTEGER or REAL, which says how
// a row's value for it is encoded.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // TEXT, INTEGER or REAL
}
