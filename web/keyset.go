package web

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// listQuery is a list page's sort, filter and position: the keyset cursor
// After is the sort key and ID of the last row of the previous page, so a
// page is "the next pageSize rows after that key", stable when rows are
// added or removed meanwhile (an offset would skip or repeat rows).
type listQuery struct {
	Q     string // a case-insensitive substring filter
	Sort  string // one of the page's sort keys
	Desc  bool
	After string // encoded cursor, "" for the first page
}

// readListQuery reads q, sort, dir and after from r's URL; sort must be one
// of sorts (the first is the default).
func readListQuery(u *url.URL, sorts ...string) listQuery {
	q := u.Query()
	lq := listQuery{Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort"), Desc: q.Get("dir") == "desc", After: q.Get("after")}
	if !slices.Contains(sorts, lq.Sort) {
		lq.Sort = sorts[0]
	}
	return lq
}

// URL returns the list's path with the query, moved to after (keep "" for
// the first page).
func (lq listQuery) URL(path, after string) string {
	v := url.Values{}
	if lq.Q != "" {
		v.Set("q", lq.Q)
	}
	v.Set("sort", lq.Sort)
	if lq.Desc {
		v.Set("dir", "desc")
	}
	if after != "" {
		v.Set("after", after)
	}
	return path + "?" + v.Encode()
}

// SortURL returns the list's first page sorted by key: ascending, or
// descending when it is already sorted ascending by key.
func (lq listQuery) SortURL(path, key string) string {
	n := listQuery{Q: lq.Q, Sort: key, Desc: lq.Sort == key && !lq.Desc}
	return n.URL(path, "")
}

// SortMark returns an arrow for the column sorted by, else "".
func (lq listQuery) SortMark(key string) string {
	if lq.Sort != key {
		return ""
	}
	if lq.Desc {
		return "▼"
	}
	return "▲"
}

// keyed is a row with its sort key as text: keys are built so that text
// order is the order wanted (fixed-width numbers and times).
type keyed[T any] struct {
	key, id string
	row     T
}

// sortKeyInt, sortKeyTime and sortKeyText build sort keys.
func sortKeyInt(n int64) string      { return fmt.Sprintf("%020d", n) }
func sortKeyTime(t time.Time) string { return bitnobi.FormatTime(t) }
func sortKeyText(s string) string    { return strings.ToLower(s) }
func encodeCursor(key, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key + "\x00" + id))
}

// keysetPage sorts rows by (key, id), in lq's direction, and returns the
// page after lq.After and the cursor of the next page ("" on the last).
func keysetPage[T any](rows []keyed[T], lq listQuery) ([]T, string) {
	slices.SortFunc(rows, func(a, b keyed[T]) int {
		c := cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.id, b.id))
		if lq.Desc {
			return -c
		}
		return c
	})
	start := 0
	if raw, err := base64.RawURLEncoding.DecodeString(lq.After); err == nil && lq.After != "" {
		key, id, _ := strings.Cut(string(raw), "\x00")
		start, _ = slices.BinarySearchFunc(rows, keyed[T]{key: key, id: id}, func(a, b keyed[T]) int {
			c := cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.id, b.id))
			if lq.Desc {
				c = -c
			}
			if c == 0 {
				return -1 // the cursor row itself comes before the page
			}
			return c
		})
	}
	end := min(start+pageSize, len(rows))
	out := make([]T, 0, end-start)
	for _, r := range rows[start:end] {
		out = append(out, r.row)
	}
	next := ""
	if end < len(rows) {
		next = encodeCursor(rows[end-1].key, rows[end-1].id)
	}
	return out, next
}

// contains reports whether any of fields contains q, ignoring case.
func contains(q string, fields ...string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}
