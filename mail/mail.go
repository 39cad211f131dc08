// Package mail sends the server's e-mail through the stored SMTP settings:
// the one sender of the whole server (alerts, test e-mails, password
// resets). It speaks SMTP with the standard library's net/smtp, over
// implicit TLS or a connection upgraded with STARTTLS, and refuses to send
// a password over a connection that is not encrypted.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// Config is how to reach the SMTP server: the stored e-mail settings and
// the unsealed password.
type Config struct {
	bitnobi.EmailSettings
	Password string
}

// Message is one e-mail, plain text.
type Message struct {
	To      []string
	Subject string
	Body    string
}

// Sender sends mail with the settings Config returns at the time of each
// message, so a change to the settings applies at once.
type Sender struct {
	// Config returns the settings in force.
	Config func(ctx context.Context) (Config, error)
	// RootCAs verifies the server's certificate (nil: the system's).
	RootCAs *x509.CertPool
	// Timeout bounds one message: connection, TLS, SMTP dialogue
	// (default 30s).
	Timeout time.Duration
	// Now is the clock of the Date header (default time.Now).
	Now func() time.Time
}

// ErrDisabled is returned when the e-mail settings are not enabled.
var ErrDisabled = bitnobi.Errorf(bitnobi.ECONFLICT, "E-mail is not enabled: save the e-mail settings (PUT /api/settings/email) with enabled true first.")

// Send sends msg. Errors name the step that failed: connecting, TLS,
// the login (refused credentials), a refused address, or the message.
func (s *Sender) Send(ctx context.Context, msg Message) error {
	cfg, err := s.Config(ctx)
	if err != nil {
		return fmt.Errorf("read e-mail settings: %w", err)
	}
	if !cfg.Enabled {
		return ErrDisabled
	}
	if len(msg.To) == 0 {
		return errors.New("send mail: no recipient")
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	tlsConf := &tls.Config{ServerName: cfg.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if cfg.Security == bitnobi.EmailTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS with SMTP server %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		return fmt.Errorf("SMTP greeting of %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return fmt.Errorf("SMTP HELO to %s: %w", addr, err)
	}
	if cfg.Security == bitnobi.EmailSTARTTLS || cfg.Security == "" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("SMTP server %s does not offer STARTTLS: set security to \"tls\" if it speaks implicit TLS, or \"none\" only for a relay on this machine", addr)
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("STARTTLS with SMTP server %s: %w", addr, err)
		}
	}
	if cfg.User != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && cfg.Security != bitnobi.EmailPlain {
			return fmt.Errorf("SMTP server %s: refusing to send the password over a connection that is not encrypted", addr)
		}
		if err := c.Auth(&plainAuth{user: cfg.User, password: cfg.Password}); err != nil {
			return &AuthError{Addr: addr, User: cfg.User, Err: err}
		}
	}
	if err := c.Mail(cfg.From); err != nil {
		return fmt.Errorf("SMTP server %s refused the sender %s: %w", addr, cfg.From, err)
	}
	for _, to := range msg.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("SMTP server %s refused the recipient %s: %w", addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP DATA to %s: %w", addr, err)
	}
	if _, err := w.Write(s.format(cfg.From, msg)); err != nil {
		return fmt.Errorf("send the message to %s: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP server %s refused the message: %w", addr, err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("SMTP QUIT to %s: %w", addr, err)
	}
	return nil
}

// AuthError is an SMTP login the server refused: wrong user or password.
type AuthError struct {
	Addr, User string
	Err        error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("SMTP server %s refused the login of %q: %v (check the user and password of the e-mail settings)", e.Addr, e.User, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// plainAuth is PLAIN authentication. Unlike smtp.PlainAuth it trusts the
// caller's check that the connection is encrypted (or that the operator
// chose "none" for a relay on this machine), instead of accepting only
// localhost, which a relay may not be named.
type plainAuth struct{ user, password string }

func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.password), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}

// format renders msg as an RFC 5322 message, text/plain in UTF-8, with
// lines ending in CRLF.
func (s *Sender) format(from string, msg Message) []byte {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := from[strings.LastIndexByte(from, '@')+1:]
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", strings.Join(msg.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	hdr("Date", now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

func helloName() string {
	return "localhost"
}
