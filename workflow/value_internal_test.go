package workflow

import "testing"

func TestLike(t *testing.T) {
	for _, tc := range []struct {
		s, p string
		want bool
	}{
		{"apple", "apple", true},
		{"apple", "a%", true},
		{"apple", "%e", true},
		{"apple", "%pp%", true},
		{"apple", "a_ple", true},
		{"apple", "a_le", false},
		{"apple", "%", true},
		{"", "%", true},
		{"", "_", false},
		{"", "", true},
		{"apple", "", false},
		{"apple", "b%", false},
		{"aXbXc", "a%b%c", true},
		{"abcabc", "%abc", true},
		{"abcab", "%abc", false},
		{"mississippi", "%iss%ppi", true},
		{"mississippi", "m%s%s%i", true},
		{"ünïcode", "_n_code", true},
		{"100%", "100%", true},
	} {
		if got := like(tc.s, tc.p); got != tc.want {
			t.Errorf("like(%q, %q)=%v, want %v", tc.s, tc.p, got, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b any
		want int
	}{
		{"10", "9", 1},       // numbers, not text
		{"10", "9x", -1},     // text: "1" < "9"
		{int64(3), "3.0", 0}, // int and float text
		{2.5, "2.50", 0},     // floats
		{nil, "", 0},         // null is ""
		{"abc", "abd", -1},   // text
		{"9007199254740993", "9007199254740992", 1}, // exact as integers
		{" 7 ", "7", 0},   // spaces around numbers
		{"NaN", "NaN", 0}, // not a number: compared as text
		{"inf", "1", 1},   // not finite: compared as text ("i" > "1")
	} {
		if got := compare(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%#v, %#v)=%d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCast(t *testing.T) {
	for _, tc := range []struct {
		v    any
		typ  string
		want any
		err  bool
	}{
		{"42", "integer", int64(42), false},
		{" 42 ", "integer", int64(42), false},
		{"4.9", "integer", int64(4), false},
		{"-4.9", "integer", int64(-4), false},
		{"1e30", "integer", nil, true},
		{"x", "integer", nil, true},
		{"", "integer", nil, false},
		{nil, "float", nil, false},
		{"2.5", "float", 2.5, false},
		{int64(2), "float", 2.0, false},
		{"inf", "float", nil, true},
		{2.5, "string", "2.5", false},
		{int64(-7), "string", "-7", false},
		{nil, "string", nil, false},
	} {
		got, err := cast(tc.v, tc.typ)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("cast(%#v, %s)=%#v, %v; want %#v, error %v", tc.v, tc.typ, got, err, tc.want, tc.err)
		}
	}
}
