package bitnobi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
)

// TestAuditEntry_ComputeHash pins the hash of entries to the values the
// chains already stored hold. The first is SHA-256 over the length-prefixed
// fields as documented, computed independently (Python's hashlib).
func TestAuditEntry_ComputeHash(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891000000, time.UTC)
	for _, tt := range []struct {
		name string
		e    bitnobi.AuditEntry
		want string
	}{
		{"Minimal", bitnobi.AuditEntry{Seq: 1, At: at, Action: bitnobi.ActionSignUp},
			"35d3f1a8350cbfbd67fcabfb3848c0ad9144de72ab3beb14f8252a19539a194b"},
		{"AllFields", bitnobi.AuditEntry{Seq: 42, At: at.In(time.FixedZone("CET", 3600)), ActorID: "0190f3c2", ActorName: "alice",
			Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: "0190f3c7", Detail: `{"name":"sales"}`,
			RemoteAddr: "10.0.0.1", RemoteUser: "alice@corp", PrevHash: strings.Repeat("ab", 32)},
			"9482497c6fa501b4ec91fee4c03327e1f455efe722cf4da836ed2f6de598f487"},
		{"LongDetail", bitnobi.AuditEntry{Seq: 7, At: at, Action: "x", Detail: strings.Repeat("détail ", 200)},
			"1fcc8fe64b3f60646412f26ae1989d25d9dab037e7371a8109e81742d0e83728"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.ComputeHash(); got != tt.want {
				t.Fatalf("ComputeHash()=%s, want %s", got, tt.want)
			}
		})
	}
}

func BenchmarkAuditEntry_ComputeHash(b *testing.B) {
	e := bitnobi.AuditEntry{Seq: 123456, At: time.Date(2025, 3, 4, 5, 6, 7, 891000000, time.UTC), ActorID: strings.Repeat("7", 32),
		ActorName: "user17", Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: strings.Repeat("3", 32),
		Detail: `{"name":"sales 2024-03 north","owner_id":"00000000000000000000000000000011"}`, RemoteAddr: "10.0.3.18",
		PrevHash: strings.Repeat("ab", 32)}
	for b.Loop() {
		e.ComputeHash()
	}
}

// TestAuditEntry_AppendHash: AppendHash appends what ComputeHash returns.
func TestAuditEntry_AppendHash(t *testing.T) {
	e := bitnobi.AuditEntry{Seq: 3, At: time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC), Action: bitnobi.ActionSignIn}
	if got, want := string(e.AppendHash([]byte("x"))), "x"+e.ComputeHash(); got != want {
		t.Fatalf("AppendHash()=%s, want %s", got, want)
	}
}
