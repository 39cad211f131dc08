package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bitnobi/bitnobi"
)

// registerOpsRoutes registers what an operator's tools and the
// administration pages use: health, readiness and metrics, the backup
// schedule, the current warnings, the test e-mail and the forgotten
// password. docs/api.md documents each.
func (s *Server) registerOpsRoutes() {
	s.handle("GET /api/health", false, s.handleHealth)
	s.handle("GET /api/ready", false, s.handleReady)
	s.handle("GET /metrics", false, s.handleMetrics)

	s.handle("GET /api/settings/backup", true, s.handleGetBackupSettings)
	s.handle("PUT /api/settings/backup", true, s.handleUpdateBackupSettings)
	s.handle("GET /api/warnings", true, s.handleWarnings)
	s.handle("POST /api/settings/email/test", true, s.handleTestEmail)

	s.handle("POST /api/auth/forgot-password", false, s.handleForgotPassword)
	s.handle("POST /api/auth/reset-password", false, s.handleResetPassword)
}

// HealthResponse is the answer of GET /api/health and GET /api/ready.
type HealthResponse struct {
	Status string            `json:"status"`           // "ok", "ready" or "not ready"
	Checks map[string]string `json:"checks,omitempty"` // GET /api/ready: each check, "ok" or what failed
}

// ReadyCheck is one readiness check: nil when it passes.
type ReadyCheck func(ctx context.Context) error

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	s.JSON(w, http.StatusOK, HealthResponse{Status: "ok"})
	return nil
}

// handleReady runs every check with a deadline; any failure is a 503, so a
// load balancer or orchestrator stops sending requests. The failures are
// named but not detailed (the log has the details): the route needs no
// session.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res := HealthResponse{Status: "ready", Checks: map[string]string{}}
	status := http.StatusOK
	for name, check := range s.ReadyChecks {
		if err := check(ctx); err != nil {
			s.Logger.Warn("readiness check failed", "check", name, "err", err)
			res.Checks[name] = "failed"
			res.Status, status = "not ready", http.StatusServiceUnavailable
			continue
		}
		res.Checks[name] = "ok"
	}
	s.JSON(w, status, res)
	return nil
}

// handleMetrics serves the Prometheus metrics to the addresses
// MetricsAllow lists, and to the administrator's session from anywhere.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	addr, err := netip.ParseAddr(remoteHost(r))
	allowed := false
	if err == nil {
		addr = addr.Unmap()
		for _, p := range s.MetricsAllow {
			if p.Contains(addr) {
				allowed = true
				break
			}
		}
	}
	if !allowed {
		if BearerToken(r) == "" {
			return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Metrics are readable from the addresses bitnobi serve --metrics-allow lists, or with an administrator's token.")
		}
		u, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if !u.IsAdmin {
			return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may read the metrics from this address.")
		}
	}
	promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) handleGetBackupSettings(w http.ResponseWriter, r *http.Request) error {
	set, err := s.BackupSettings.GetBackupSettings(r.Context())
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, s.backupSettingsResponse(set))
	return nil
}

// BackupSettingsResponse is the answer of the backup settings routes: the
// stored settings, and those in force where serve's flags or environment
// override them (Overridden names the fields).
type BackupSettingsResponse struct {
	*bitnobi.BackupSettings
	Effective  *bitnobi.BackupSettings `json:"effective"`
	Overridden []string                `json:"overridden"`
	// NextRuns is when each scheduled task runs next (absent: never).
	NextRuns map[string]time.Time `json:"next_runs"`
}

func (s *Server) backupSettingsResponse(set *bitnobi.BackupSettings) BackupSettingsResponse {
	res := BackupSettingsResponse{BackupSettings: set, Effective: set, Overridden: []string{}, NextRuns: map[string]time.Time{}}
	if s.BackupOverrides != nil {
		eff, fields := s.BackupOverrides(*set)
		res.Effective, res.Overridden = &eff, fields
	}
	if s.NextRuns != nil {
		res.NextRuns = s.NextRuns()
	}
	return res
}

func (s *Server) handleUpdateBackupSettings(w http.ResponseWriter, r *http.Request) error {
	var upd bitnobi.BackupSettingsUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	set, err := s.BackupSettings.UpdateBackupSettings(r.Context(), upd)
	if err != nil {
		return err
	}
	if s.BackupSettingsChanged != nil {
		s.BackupSettingsChanged()
	}
	s.JSON(w, http.StatusOK, s.backupSettingsResponse(set))
	return nil
}

// WarningsResponse is the answer of GET /api/warnings.
type WarningsResponse struct {
	Warnings []bitnobi.Warning `json:"warnings"`
}

func (s *Server) handleWarnings(w http.ResponseWriter, r *http.Request) error {
	if !bitnobi.ActorFromContext(r.Context()).IsAdmin {
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may see the server's warnings.")
	}
	res := WarningsResponse{Warnings: []bitnobi.Warning{}}
	if s.Warnings != nil {
		res.Warnings = append(res.Warnings, s.Warnings()...)
	}
	s.JSON(w, http.StatusOK, res)
	return nil
}

// TestEmailRequest is the body of POST /api/settings/email/test ({} at
// least); To defaults to the administrator's own address.
type TestEmailRequest struct {
	To string `json:"to"`
}

// TestEmailResponse says where the test e-mail went.
type TestEmailResponse struct {
	Sent bool   `json:"sent"`
	To   string `json:"to"`
}

func (s *Server) handleTestEmail(w http.ResponseWriter, r *http.Request) error {
	a := bitnobi.ActorFromContext(r.Context())
	if !a.IsAdmin {
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may send a test e-mail.")
	}
	var req TestEmailRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	if req.To == "" {
		u, err := s.Users.FindUserByID(r.Context(), a.UserID)
		if err != nil {
			return err
		}
		req.To = u.Email
	}
	if s.TestEmail == nil {
		return bitnobi.Errorf(bitnobi.EINTERNAL, "No mail sender is configured.")
	}
	if err := s.TestEmail(r.Context(), req.To); err != nil {
		if bitnobi.ErrorCode(err) != bitnobi.EINTERNAL {
			return err
		}
		// The SMTP server's answer is what the administrator needs to
		// fix the settings: a refused login, an unknown host, TLS.
		s.Logger.Warn("test e-mail", "to", req.To, "err", err)
		return bitnobi.Errorf(bitnobi.ECONFLICT, "The test e-mail was not sent: %v", err)
	}
	s.JSON(w, http.StatusOK, TestEmailResponse{Sent: true, To: req.To})
	return nil
}

// ForgotPasswordRequest is the body of POST /api/auth/forgot-password.
type ForgotPasswordRequest struct {
	Email string `json:"email"`
}

// ResetPasswordRequest is the body of POST /api/auth/reset-password.
type ResetPasswordRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) error {
	var req ForgotPasswordRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	if err := s.PasswordResets.RequestPasswordReset(r.Context(), req.Email); err != nil {
		return err
	}
	s.JSON(w, http.StatusAccepted, map[string]string{"message": "If an account has this address, a link to choose a new password is on its way."})
	return nil
}

func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) error {
	var req ResetPasswordRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	if err := s.PasswordResets.ResetPassword(r.Context(), req.Token, req.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// httpMetrics are the usual HTTP request metrics, labelled by route
// pattern (never the raw path, which would make a series per ID).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bitnobi", Name: "http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "bitnobi", Name: "http_request_duration_seconds", Help: "Time to answer HTTP requests, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes of
// streamed downloads).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}
