package format

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

var fuzzCols = []Column{{Name: "t", Type: "TEXT"}, {Name: "i", Type: "INTEGER"}, {Name: "r", Type: "REAL"}, {Name: "n", Type: "TEXT"}}

func FuzzRowRoundTrip(f *testing.F) {
	f.Add("plain", int64(1), 1.5)
	f.Add("quote \" backslash \\ newline \n tab \t nul \x00 \u2028 é", int64(math.MinInt64), math.Inf(1))
	f.Add("\xff\xfe invalid utf-8", int64(math.MaxInt64), math.Copysign(0, -1))
	f.Add("", int64(0), 1e300)
	f.Fuzz(func(t *testing.T, s string, n int64, r float64) {
		row := []any{s, n, r, nil}
		line, err := AppendRow(nil, fuzzCols, row)
		if math.IsNaN(r) {
			if err == nil {
				t.Fatal("NaN encoded")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("row spans lines: %q", line)
		}
		got := make([]any, len(fuzzCols))
		if err := decodeRow(line, fuzzCols, got); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		if got[0] != s || got[1] != n || math.Float64bits(got[2].(float64)) != math.Float64bits(r) || got[3] != nil {
			t.Fatalf("round trip of %#v gave %#v (line %q)", row, got, line)
		}
	})
}

func FuzzDecodeRow(f *testing.F) {
	f.Add([]byte(`["a",1,2.5,null]` + "\n"))
	f.Add([]byte(`[{"base64":"/w=="},"1",1e999,null]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		row := make([]any, len(fuzzCols))
		if err := decodeRow(line, fuzzCols, row); err != nil {
			return
		}
		// What decodes must encode back to a line that decodes the same.
		out, err := AppendRow(nil, fuzzCols, row)
		if err != nil {
			t.Fatalf("decoded row %#v does not encode: %v", row, err)
		}
		again := make([]any, len(fuzzCols))
		if err := decodeRow(out, fuzzCols, again); err != nil {
			t.Fatalf("re-encoded row does not decode: %v", err)
		}
	})
}

func TestRowReader(t *testing.T) {
	var buf bytes.Buffer
	long := strings.Repeat("x", 200<<10) // longer than the reader's buffer
	for _, row := range [][]any{{"a", int64(1), 1.0, nil}, {long, int64(2), math.Inf(-1), "z"}} {
		line, err := AppendRow(nil, fuzzCols, row)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
	}
	rr := NewRowReader(bytes.NewReader(buf.Bytes()), fuzzCols)
	for i := 0; i < 2; i++ {
		row, err := rr.Next()
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if i == 1 && (row[0] != long || !math.IsInf(row[2].(float64), -1)) {
			t.Fatal("long row not read back")
		}
	}
	if _, err := rr.Next(); err != io.EOF {
		t.Fatalf("after the last row: %v, want EOF", err)
	}
	rr = NewRowReader(bytes.NewReader(buf.Bytes()[:buf.Len()-1]), fuzzCols)
	rr.Next()
	if _, err := rr.Next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated last line: %v, want ErrMalformed", err)
	}
}
