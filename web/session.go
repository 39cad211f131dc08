package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookie names.
const (
	sessionCookie = "bitnobi_session" // the session's bearer token
	anonCookie    = "bitnobi_csrf"    // the CSRF token before sign-in
	flashCookie   = "bitnobi_flash"   // a one-time message after a redirect
)

// sessionToken returns the session cookie's token, or "".
func sessionToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// secure reports whether cookies set in answer to r should be Secure.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.TrustForwardedProto && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

// cookie returns a cookie with the attributes every cookie here has.
func (s *Server) cookie(r *http.Request, name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)}
	if !expires.IsZero() {
		c.Expires = expires
	}
	return c
}

// setSession stores a new session's token in the session cookie; the
// cookie lives as long as the session.
func (s *Server) setSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, s.cookie(r, sessionCookie, token, expires))
}

// clearSession removes the session cookie.
func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	c := s.cookie(r, sessionCookie, "", time.Time{})
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// csrfFor derives the CSRF token of a session from its bearer token: a
// script on another site can read neither.
func csrfFor(sessionToken string) string {
	sum := sha256.Sum256([]byte("bitnobi web csrf v1\x00" + sessionToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// anonCSRF returns the CSRF token of a visitor not signed in: the value
// of a random cookie, set here when missing.
func (s *Server) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(anonCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: crypto/rand failed: " + err.Error())
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, s.cookie(r, anonCookie, tok, time.Time{}))
	// A POST in this same request compares against the new value and
	// fails, as it should: its form did not come from this site.
	return tok
}

// checkCSRF reports whether r carries want, in the X-CSRF-Token header, the
// "csrf" query parameter (uploads, whose multipart body is streamed and
// not parsed here) or, for a URL-encoded form, its "csrf" field.
func checkCSRF(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.URL.Query().Get("csrf")
	}
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
		got = r.PostFormValue("csrf")
	}
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// maxFormBytes caps a URL-encoded form.
const maxFormBytes = 1 << 20

// flash stores a one-time message shown on the next page.
func (s *Server) flash(w http.ResponseWriter, r *http.Request, msg string) {
	http.SetCookie(w, s.cookie(r, flashCookie, url.QueryEscape(msg), time.Now().Add(time.Minute)))
}

// takeFlash returns the pending one-time message and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	clear := s.cookie(r, flashCookie, "", time.Time{})
	clear.MaxAge = -1
	http.SetCookie(w, clear)
	msg, err := url.QueryUnescape(c.Value)
	if err != nil || len(msg) > 500 {
		return ""
	}
	return msg
}

// redirect answers a successful post: a flash message, then a 303 to path.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, path, msg string) error {
	if msg != "" {
		s.flash(w, r, msg)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
