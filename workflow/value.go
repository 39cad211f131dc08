package workflow

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bitnobi/bitnobi"
)

// text returns the text form of a value; null is "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return ""
}

// asInt returns v as an integer, if it is one or is text holding one.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// asFloat returns v as a finite number, if it is one or is text holding
// one.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// compare orders a and b: as integers when both are, else as numbers when
// both are, else as text (null being "").
func compare(a, b any) int {
	if x, ok := asInt(a); ok {
		if y, ok := asInt(b); ok {
			return cmp3(x, y)
		}
	}
	if x, ok := asFloat(a); ok {
		if y, ok := asFloat(b); ok {
			return cmp3(x, y)
		}
	}
	return strings.Compare(text(a), text(b))
}

func cmp3[T int64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// matches reports whether v meets the condition op value.
func matches(v any, op, value string) bool {
	if op == bitnobi.OpLike {
		return like(strings.ToLower(text(v)), strings.ToLower(value))
	}
	c := compare(v, value)
	switch op {
	case bitnobi.OpEq:
		return c == 0
	case bitnobi.OpNe:
		return c != 0
	case bitnobi.OpLt:
		return c < 0
	case bitnobi.OpLe:
		return c <= 0
	case bitnobi.OpGt:
		return c > 0
	case bitnobi.OpGe:
		return c >= 0
	}
	return false
}

// like matches s against a SQL LIKE pattern: % matches any run of
// characters, _ exactly one. It backtracks only to the last %, so it runs
// in O(len(s)*len(p)) at worst.
func like(s, p string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		r, rn := utf8.DecodeRuneInString(s[si:])
		if pi < len(p) {
			q, qn := utf8.DecodeRuneInString(p[pi:])
			switch {
			case q == '%':
				star, mark = pi+qn, si
				pi += qn
				continue
			case q == '_' || q == r:
				si += rn
				pi += qn
				continue
			}
		}
		if star < 0 {
			return false
		}
		// Let the last % absorb one more character and retry.
		_, mn := utf8.DecodeRuneInString(s[mark:])
		mark += mn
		si, pi = mark, star
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// cast converts v to typ (a bitnobi.Cast* constant). An empty or null
// value cast to a number is null; a number with a fraction cast to an
// integer is truncated toward zero.
func cast(v any, typ string) (any, error) {
	switch typ {
	case bitnobi.CastString:
		if v == nil {
			return nil, nil
		}
		return text(v), nil
	case bitnobi.CastInteger:
		if v == nil || v == "" {
			return nil, nil
		}
		if n, ok := asInt(v); ok {
			return n, nil
		}
		if f, ok := asFloat(v); ok {
			t := math.Trunc(f)
			if t >= -(1<<63) && t < 1<<63 {
				return int64(t), nil
			}
		}
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "cannot cast %q to integer.", text(v))
	case bitnobi.CastFloat:
		if v == nil || v == "" {
			return nil, nil
		}
		if f, ok := asFloat(v); ok {
			return f, nil
		}
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "cannot cast %q to float.", text(v))
	}
	return nil, bitnobi.Errorf(bitnobi.EINVALID, "unknown cast type %q.", typ)
}

// appendKey appends an encoding of v to b that differs for any two values
// that differ in type or text, so that a sequence of values can be a map
// key without collisions.
func appendKey(b []byte, v any) []byte {
	tag := byte('n')
	switch v.(type) {
	case string:
		tag = 's'
	case int64:
		tag = 'i'
	case float64:
		tag = 'f'
	}
	t := text(v)
	b = append(b, tag)
	b = strconv.AppendInt(b, int64(len(t)), 10)
	b = append(b, ':')
	return append(b, t...)
}
