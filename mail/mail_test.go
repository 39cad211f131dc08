package mail_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/smtptest"
	"github.com/bitnobi/bitnobi/mail"
)

func sender(env *smtptest.Env, srv smtptest.Server, security, password string) *mail.Sender {
	cfg := mail.Config{EmailSettings: bitnobi.EmailSettings{From: "bitnobi@example.org", Host: srv.Host, Port: srv.Port,
		User: env.User, Security: security, Enabled: true}, Password: password}
	return &mail.Sender{RootCAs: env.RootCAs, Config: func(context.Context) (mail.Config, error) { return cfg, nil }}
}

// TestSend sends real mail to real SMTP servers, over STARTTLS and
// implicit TLS, and reads it back; a wrong password is refused by the
// server and reported as such; settings that do not match the server fail
// with an error that says why.
func TestSend(t *testing.T) {
	env := smtptest.Get(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		srv      smtptest.Server
		security string
	}{{"STARTTLS", env.STARTTLS, bitnobi.EmailSTARTTLS}, {"ImplicitTLS", env.TLS, bitnobi.EmailTLS}} {
		t.Run(tt.name, func(t *testing.T) {
			to := fmt.Sprintf("admin-%s@example.org", strings.ToLower(tt.name))
			subject := "Bitnobi: test über " + tt.name
			err := sender(env, tt.srv, tt.security, env.Password).Send(ctx, mail.Message{To: []string{to}, Subject: subject, Body: "line one\nline two"})
			if err != nil {
				t.Fatal(err)
			}
			m := tt.srv.Find(t, to, subject)
			if !strings.Contains(m.Text, "line one") || !strings.Contains(m.Text, "line two") {
				t.Fatalf("received text %q", m.Text)
			}
		})
	}
	t.Run("WrongPassword", func(t *testing.T) {
		to := "refused@example.org"
		err := sender(env, env.STARTTLS, bitnobi.EmailSTARTTLS, "not the password").Send(ctx, mail.Message{To: []string{to}, Subject: "x", Body: "x"})
		var ae *mail.AuthError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "check the user and password") {
			t.Fatalf("err %v, want an AuthError", err)
		}
		if n := env.STARTTLS.Count(t, to); n != 0 {
			t.Fatalf("%d messages delivered with a wrong password", n)
		}
	})
	t.Run("TLSToSTARTTLSServer", func(t *testing.T) {
		s := sender(env, env.STARTTLS, bitnobi.EmailTLS, env.Password)
		s.Timeout = 5e9
		if err := s.Send(ctx, mail.Message{To: []string{"x@example.org"}, Subject: "x", Body: "x"}); err == nil || !strings.Contains(err.Error(), "TLS") {
			t.Fatalf("err %v, want a TLS error", err)
		}
	})
	t.Run("PlainLoginRefused", func(t *testing.T) {
		// "none" to a server that wants STARTTLS: the password is never
		// sent in the clear because the server refuses the login first.
		err := sender(env, env.STARTTLS, bitnobi.EmailPlain, env.Password).Send(ctx, mail.Message{To: []string{"x@example.org"}, Subject: "x", Body: "x"})
		if err == nil {
			t.Fatal("sent without TLS to a server that requires it")
		}
	})
	t.Run("UntrustedCertificate", func(t *testing.T) {
		s := sender(env, env.TLS, bitnobi.EmailTLS, env.Password)
		s.RootCAs = nil // the system's roots do not include the test certificate
		if err := s.Send(ctx, mail.Message{To: []string{"x@example.org"}, Subject: "x", Body: "x"}); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err %v, want a certificate error", err)
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		s := &mail.Sender{Config: func(context.Context) (mail.Config, error) { return mail.Config{}, nil }}
		if err := s.Send(ctx, mail.Message{To: []string{"x@example.org"}}); bitnobi.ErrorCode(err) != bitnobi.ECONFLICT {
			t.Fatalf("err %v, want ECONFLICT", err)
		}
	})
}
