package format

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
)

// decodeRowJSON is the encoding/json decoder decodeRow replaced, kept as
// FuzzDecodeRowJSON's reference. It parses one line into row, converting each value to its
// column's type.
func decodeRowJSON(line []byte, cols []Column, row []any) error {
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
		v, err := decodeValueJSON(c, vals[i])
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		row[i] = v
	}
	return nil
}

func decodeValueJSON(c Column, v any) (any, error) {
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

// FuzzDecodeRowJSON checks decodeRow against encoding/json
// (decodeRowJSON) on valid rows: lines AppendRow writes, with escapes
// AppendRow never writes (\u escapes, surrogate pairs, \/) spliced in,
// and whatever else both accept.
func FuzzDecodeRowJSON(f *testing.F) {
	f.Add("plain", int64(1), 1.5, false)
	f.Add("quote \" backslash \\ newline \n nul \x00 \u2028 é 😀", int64(math.MinInt64), math.Inf(-1), true)
	f.Add("\xff\xfe invalid utf-8", int64(math.MaxInt64), 1e-300, false)
	f.Add("", int64(0), -2.5e300, true)
	f.Fuzz(func(t *testing.T, s string, n int64, r float64, escape bool) {
		if math.IsNaN(r) {
			return
		}
		line, err := AppendRow(nil, fuzzCols, []any{s, n, r, nil})
		if err != nil {
			t.Fatal(err)
		}
		if escape {
			// Re-encode the strings as encoding/json does, with \u
			// escapes for <, >, & and U+2028 (and so on).
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			var v []any
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			line = b.Bytes()
		}
		compareDecoders(t, line)
	})
}

// FuzzDecodeRowDiff feeds arbitrary lines to both decoders: whatever
// encoding/json decodes, and decodeRow too, must give the same values.
func FuzzDecodeRowDiff(f *testing.F) {
	f.Add([]byte(`["a\ud83d\ude00\u00e9\/",1,2.5e-3,null]`))
	f.Add([]byte(`[{"base64":"/w=="},-0,1E+2,"z"]`))
	f.Add([]byte(` [ "\ud800" , 1 , "Infinity" , null ] ` + "\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		want := make([]any, len(fuzzCols))
		if decodeRowJSON(line, fuzzCols, want) != nil {
			return
		}
		if !bytes.Equal(bytes.ToValidUTF8(line, nil), line) {
			return // encoding/json replaces invalid UTF-8; decodeRow refuses it
		}
		if bytes.Contains(line, []byte("{")) {
			// encoding/json accepts repeated keys; decodeRow only the
			// object AppendRow writes.
			var v []any
			json.Unmarshal(line, &v)
			if m, ok := v[0].(map[string]any); ok && len(m) == 1 && bytes.Count(line, []byte(`"base64"`)) != 1 {
				return
			}
		}
		compareDecoders(t, line)
	})
}

func compareDecoders(t *testing.T, line []byte) {
	t.Helper()
	want := make([]any, len(fuzzCols))
	if err := decodeRowJSON(line, fuzzCols, want); err != nil {
		t.Fatalf("encoding/json refuses %q: %v", line, err)
	}
	got := make([]any, len(fuzzCols))
	if err := decodeRow(line, fuzzCols, got); err != nil {
		t.Fatalf("decodeRow refuses %q: %v", line, err)
	}
	for i := range want {
		w, g := want[i], got[i]
		if wf, ok := w.(float64); ok {
			if gf, ok := g.(float64); !ok || math.Float64bits(gf) != math.Float64bits(wf) {
				t.Fatalf("line %q column %d: decodeRow gives %#v, encoding/json %#v", line, i, g, w)
			}
			continue
		}
		if g != w {
			t.Fatalf("line %q column %d: decodeRow gives %#v, encoding/json %#v", line, i, g, w)
		}
	}
}
