package format

import (
	"strings"
	"testing"
)

// appendStringReference is the plain definition of appendString: every
// byte on its own. appendString must write exactly what it writes, since
// the last line of a segment is hashed and compared across backups.
func appendStringReference(buf []byte, s string) []byte {
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

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `a "quoted" \ path`, "tab\tnew\nline\rcr\x00\x1f\x7f", "héllo ☃ 😀", "\"\"\\\\", strings.Repeat("x", 100) + "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, want := appendString([]byte("prefix"), s), appendStringReference([]byte("prefix"), s)
		if string(got) != string(want) {
			t.Fatalf("appendString(%q) = %q, want %q", s, got, want)
		}
	})
}

// auditRow is a row of audit_log as the seeder writes them.
var auditCols = []Column{
	{Name: "seq", Type: "INTEGER"}, {Name: "at", Type: "TEXT"}, {Name: "actor_id", Type: "TEXT"},
	{Name: "actor_name", Type: "TEXT"}, {Name: "action", Type: "TEXT"}, {Name: "target_type", Type: "TEXT"},
	{Name: "target_id", Type: "TEXT"}, {Name: "detail", Type: "TEXT"}, {Name: "remote_addr", Type: "TEXT"},
	{Name: "remote_user", Type: "TEXT"}, {Name: "prev_hash", Type: "TEXT"}, {Name: "hash", Type: "TEXT"},
}

var auditRow = []any{
	int64(1234567), "2026-11-26T05:57:47.123456Z", "0b9a7c1e-4f2d-4c55-9a51-2f6a3c1d9e77", "alice",
	"workflow.run", "workflow", "5f1c2e3a-8b7d-4e6f-a1b2-c3d4e5f60718",
	`{"elements":12,"result_rows":48213,"note":"nightly \"sales\" join"}`, "10.0.3.17", "",
	strings.Repeat("ab12", 16), strings.Repeat("cd34", 16),
}

// BenchmarkAppendRow measures the JSON encoding of table rows, a sixth of
// a full backup's CPU time at the benchmark's M size (docs/benchmarks.md).
func BenchmarkAppendRow(b *testing.B) {
	buf, _ := AppendRow(nil, auditCols, auditRow)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendRow(buf[:0], auditCols, auditRow); err != nil {
			b.Fatal(err)
		}
	}
}
