// Package smtptest gives tests the real SMTP servers that
// scripts/with-smtp.sh starts (mailpit), and reads what they received
// through mailpit's HTTP API.
package smtptest

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"
)

// Environment variables set by scripts/with-smtp.sh.
const (
	EnvSMTP     = "BITNOBI_TEST_SMTP"          // STARTTLS server, host:port
	EnvAPI      = "BITNOBI_TEST_SMTP_API"      // its HTTP API
	EnvTLS      = "BITNOBI_TEST_SMTP_TLS"      // implicit-TLS server
	EnvTLSAPI   = "BITNOBI_TEST_SMTP_TLS_API"  // its HTTP API
	EnvUser     = "BITNOBI_TEST_SMTP_USER"     // the login both accept
	EnvPassword = "BITNOBI_TEST_SMTP_PASSWORD" // its password
	EnvCA       = "BITNOBI_TEST_SMTP_CA"       // the servers' certificate
	EnvRequired = "BITNOBI_TEST_SMTP_REQUIRED" // "1": a skip is a failure
)

// Server is one SMTP server of the environment.
type Server struct {
	Host string
	Port int
	API  string // mailpit's HTTP API base URL
}

// Env is the SMTP test environment.
type Env struct {
	STARTTLS, TLS  Server
	User, Password string
	RootCAs        *x509.CertPool
}

// Get returns the environment, or skips the test when it is not set (and
// fails it when [EnvRequired] is 1).
func Get(tb testing.TB) *Env {
	tb.Helper()
	if os.Getenv(EnvSMTP) == "" {
		if os.Getenv(EnvRequired) == "1" {
			tb.Fatalf("%s=1 but %s is not set: run under scripts/with-smtp.sh", EnvRequired, EnvSMTP)
		}
		tb.Skipf("no SMTP server: run under scripts/with-smtp.sh (sets %s)", EnvSMTP)
	}
	e := &Env{User: os.Getenv(EnvUser), Password: os.Getenv(EnvPassword), RootCAs: x509.NewCertPool()}
	pem, err := os.ReadFile(os.Getenv(EnvCA))
	if err != nil {
		tb.Fatalf("read %s: %v", EnvCA, err)
	}
	if !e.RootCAs.AppendCertsFromPEM(pem) {
		tb.Fatalf("%s holds no certificate", EnvCA)
	}
	for _, s := range []struct {
		srv       *Server
		addr, api string
	}{{&e.STARTTLS, EnvSMTP, EnvAPI}, {&e.TLS, EnvTLS, EnvTLSAPI}} {
		host, port, err := net.SplitHostPort(os.Getenv(s.addr))
		if err != nil {
			tb.Fatalf("%s: %v", s.addr, err)
		}
		s.srv.Host = host
		s.srv.Port, _ = strconv.Atoi(port)
		s.srv.API = os.Getenv(s.api)
	}
	return e
}

// Message is a received message, as mailpit's API summarizes it.
type Message struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	To      []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Text string `json:"-"` // filled by Find
}

// Find waits up to 10 seconds for a message to the address to with this
// subject on s, and returns it with its text.
func (s Server) Find(tb testing.TB, to, subject string) Message {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list struct {
			Messages []Message `json:"messages"`
		}
		q := url.Values{"query": {fmt.Sprintf("to:%q subject:%q", to, subject)}}
		getJSON(tb, s.API+"/api/v1/search?"+q.Encode(), &list)
		for _, m := range list.Messages {
			if m.Subject == subject {
				var full struct {
					Text string `json:"Text"`
				}
				getJSON(tb, s.API+"/api/v1/message/"+m.ID, &full)
				m.Text = full.Text
				return m
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no message to %s with subject %q reached %s", to, subject, s.API)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Count returns how many messages to the address to s holds.
func (s Server) Count(tb testing.TB, to string) int {
	tb.Helper()
	var list struct {
		Total int `json:"messages_count"`
	}
	getJSON(tb, s.API+"/api/v1/search?"+url.Values{"query": {fmt.Sprintf("to:%q", to)}}.Encode(), &list)
	return list.Total
}

func getJSON(tb testing.TB, u string, v any) {
	tb.Helper()
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatalf("mailpit API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit API %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailpit API %s: %v", u, err)
	}
}
