package store

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// summarySamples are summaries as insertSegment writes them, and inputs
// its fast path must leave to json.Unmarshal.
var summarySamples = []string{
	`[]`, `[""]`, `["a"]`, `["",""]`, `["a","b c","d/e"]`,
	`["0b6f0d2e-7c1a-4f5e-9a57-3c2d1e0f9a8b","alice"]`,
	`["caf\u00e9"]`, `["café"]`, `["a\"b"]`, `["a\\b"]`, "[\"a\x7fb\"]",
	`null`, `[ "a"]`, `["a" ]`, `["a",]`, `[,]`, `["a""b"]`, `["a",,"b"]`,
	`["a"`, `"a"]`, `[1]`, `["a",1]`, `[`, `]`, `[]]`, `[[]]`, `{}`, ``,
}

// TestParseSummary: ParseAuditSummary gives what json.Unmarshal gives, the
// error (or none) and the strings, for summaries and for inputs that are
// not.
func TestParseSummary(t *testing.T) {
	for _, s := range summarySamples {
		checkParseSummary(t, s)
	}
}

func FuzzParseSummary(f *testing.F) {
	for _, s := range summarySamples {
		f.Add(s)
	}
	f.Fuzz(checkParseSummary)
}

func checkParseSummary(t *testing.T, s string) {
	var want, got []string
	wantErr := json.Unmarshal([]byte(s), &want)
	err := ParseAuditSummary([]byte(s), &got)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("ParseAuditSummary(%q): error %v, json.Unmarshal's %v", s, err, wantErr)
	}
	if err == nil {
		if diff := cmp.Diff(want, got); diff != "" || (want == nil) != (got == nil) {
			t.Fatalf("ParseAuditSummary(%q) (-json.Unmarshal +ParseAuditSummary), nil %v/%v:\n%s", s, want == nil, got == nil, diff)
		}
	}
}
