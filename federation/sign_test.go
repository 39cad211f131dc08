package federation_test

import (
	"context"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/federation"
	"github.com/bitnobi/bitnobi/internal/dbtest"
)

// TestAuthenticatePeer checks what a signature covers: each part of the
// request changed after signing makes it fail.
func TestAuthenticatePeer(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := newNode(t, dbtest.SQLite)
	peer := n.pair("a", n, "svc", "shared")
	body := []byte(`{"user":{"username":"alice"}}`)
	signed := func() bitnobi.PeerRequest {
		return bitnobi.PeerRequest{ServiceID: "svc", Method: "POST", Path: "/api/federation/results/x", Body: body, Timestamp: now, Nonce: "n1",
			Signature: federation.Signature("shared", "svc", "POST", "/api/federation/results/x", now, "n1", body)}
	}
	for _, tc := range []struct {
		name   string
		change func(r *bitnobi.PeerRequest)
	}{
		{"Body", func(r *bitnobi.PeerRequest) { r.Body = []byte(`{"user":{"username":"admin"}}`) }},
		{"Path", func(r *bitnobi.PeerRequest) { r.Path = "/api/federation/results/y" }},
		{"Method", func(r *bitnobi.PeerRequest) { r.Method = "GET" }},
		{"Nonce", func(r *bitnobi.PeerRequest) { r.Nonce = "n2" }},
		{"Timestamp", func(r *bitnobi.PeerRequest) { r.Timestamp = now.Add(time.Second) }},
		{"ServiceID", func(r *bitnobi.PeerRequest) { r.ServiceID = "other" }},
		{"Unsigned", func(r *bitnobi.PeerRequest) { r.Signature = "" }},
		{"TooOld", func(r *bitnobi.PeerRequest) {
			r.Timestamp = now.Add(-federation.MaxSkew - time.Second)
			r.Signature = federation.Signature("shared", "svc", r.Method, r.Path, r.Timestamp, r.Nonce, r.Body)
		}},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			s := &federation.Service{Peers: n.remotes, Now: func() time.Time { return now }}
			r := signed()
			tc.change(&r)
			if _, err := s.AuthenticatePeer(context.Background(), r); bitnobi.ErrorCode(err) != bitnobi.EUNAUTHORIZED {
				t.Fatalf("AuthenticatePeer()=%v, want EUNAUTHORIZED", err)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		s := &federation.Service{Peers: n.remotes, Now: func() time.Time { return now }}
		if p, err := s.AuthenticatePeer(context.Background(), signed()); err != nil || p.ID != peer.ID {
			t.Fatalf("AuthenticatePeer()=%v, %v, want the peer", p, err)
		}
		if _, err := s.AuthenticatePeer(context.Background(), signed()); bitnobi.ErrorCode(err) != bitnobi.EUNAUTHORIZED {
			t.Fatalf("the same request again: %v, want EUNAUTHORIZED", err)
		}
	})
}
