package workflow

import (
	"encoding/csv"
	"io"
	"strconv"
)

// WriteCSV writes rows to w as CSV (RFC 4180): a header line of the
// column names, then one line per row. A null is an empty field; numbers
// are written as in JSON. It does not close rows.
func WriteCSV(w io.Writer, rows Rows) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(rows.Columns()); err != nil {
		return err
	}
	rec := make([]string, len(rows.Columns()))
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		for i, v := range row {
			switch x := v.(type) {
			case string:
				rec[i] = x
			case int64:
				rec[i] = strconv.FormatInt(x, 10)
			case float64:
				rec[i] = strconv.FormatFloat(x, 'g', -1, 64)
			default:
				rec[i] = ""
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Window returns the rows of rows from offset on, at most limit of them
// (all, when limit < 0). Closing it closes rows.
func Window(rows Rows, offset, limit int64) Rows {
	return &window{Rows: rows, skip: offset, left: limit}
}

type window struct {
	Rows
	skip, left int64
}

func (w *window) Next() ([]any, error) {
	for ; w.skip > 0; w.skip-- {
		if _, err := w.Rows.Next(); err != nil {
			return nil, err
		}
	}
	if w.left == 0 {
		return nil, io.EOF
	}
	row, err := w.Rows.Next()
	if err == nil && w.left > 0 {
		w.left--
	}
	return row, err
}
