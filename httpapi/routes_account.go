package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bitnobi/bitnobi"
)

// registerAccountRoutes registers the accounts and administration half of
// the API: sign-up/in/out, the caller's account, users, policies, remote
// servers, e-mail settings and the audit log. docs/api.md documents each.
func (s *Server) registerAccountRoutes() {
	s.handle("POST /api/auth/signup", false, s.handleSignUp)
	s.handle("POST /api/auth/signin", false, s.handleSignIn)
	s.handle("POST /api/auth/signout", true, s.handleSignOut)
	s.handle("GET /api/me", true, s.handleMe)

	s.handle("GET /api/users", true, s.handleFindUsers)
	s.handle("GET /api/users/{id}", true, s.handleFindUser)
	s.handle("PATCH /api/users/{id}", true, s.handleUpdateUser)
	s.handle("DELETE /api/users/{id}", true, s.handleDeleteUser)
	s.handle("DELETE /api/users/{id}/sessions", true, s.handleSignOutAll)

	s.handle("GET /api/policies", true, s.handleFindPolicies)
	s.handle("POST /api/policies", true, s.handleCreatePolicy)
	s.handle("GET /api/policies/{id}", true, s.handleFindPolicy)
	s.handle("PATCH /api/policies/{id}", true, s.handleUpdatePolicy)
	s.handle("DELETE /api/policies/{id}", true, s.handleDeletePolicy)

	s.handle("GET /api/remote-servers", true, s.handleFindRemoteServers)
	s.handle("POST /api/remote-servers", true, s.handleCreateRemoteServer)
	s.handle("GET /api/remote-servers/{id}", true, s.handleFindRemoteServer)
	s.handle("PATCH /api/remote-servers/{id}", true, s.handleUpdateRemoteServer)
	s.handle("DELETE /api/remote-servers/{id}", true, s.handleDeleteRemoteServer)

	s.handle("GET /api/settings/email", true, s.handleGetEmailSettings)
	s.handle("PUT /api/settings/email", true, s.handleUpdateEmailSettings)

	s.handle("GET /api/audit", true, s.handleFindAuditEntries)
	s.handle("GET /api/audit/verify", true, s.handleVerifyAudit)
}

// SignUpRequest is the body of POST /api/auth/signup.
type SignUpRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SignInRequest is the body of POST /api/auth/signin.
type SignInRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// SignInResponse is the answer to a sign-in: the bearer token (shown this
// once), when it expires, and the signed-in user.
type SignInResponse struct {
	Token     string        `json:"token"`
	ExpiresAt time.Time     `json:"expires_at"`
	User      *bitnobi.User `json:"user"`
}

// PolicyRequest is the body of POST /api/policies.
type PolicyRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Attributes  map[string]string `json:"attributes"`
	Global      bool              `json:"global"`
}

// AuditVerifyResponse is the answer of GET /api/audit/verify for an intact
// chain; a broken one is a 409 error naming the first bad entry.
type AuditVerifyResponse struct {
	OK      bool  `json:"ok"`
	Entries int64 `json:"entries"`
}

func (s *Server) handleSignUp(w http.ResponseWriter, r *http.Request) error {
	var req SignUpRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	u, err := s.Users.SignUp(r.Context(), req.Username, req.Email, req.Password)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) error {
	var req SignInRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	sess, u, err := s.Users.SignIn(r.Context(), req.Username, req.Password)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, SignInResponse{Token: sess.Token, ExpiresAt: sess.ExpiresAt, User: u})
	return nil
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	if err := s.Users.SignOut(r.Context(), BearerToken(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Users.FindUserByID(r.Context(), bitnobi.ActorFromContext(r.Context()).UserID)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleFindUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.Users.FindUsers(r.Context())
	if err != nil {
		return err
	}
	if users == nil {
		users = []*bitnobi.User{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

func (s *Server) handleFindUser(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.Users.FindUserByID(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	var upd bitnobi.UserUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	u, err := s.Users.UpdateUser(r.Context(), id, upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Users.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleSignOutAll ends every session of a user, the caller's own
// included when it is theirs.
func (s *Server) handleSignOutAll(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	n, err := s.Users.SignOutAll(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, map[string]any{"sessions_ended": n})
	return nil
}

func (s *Server) handleFindPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Policies.FindPolicies(r.Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []*bitnobi.Policy{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"policies": ps})
	return nil
}

func (s *Server) handleCreatePolicy(w http.ResponseWriter, r *http.Request) error {
	var req PolicyRequest
	if err := s.Decode(w, r, &req); err != nil {
		return err
	}
	p := &bitnobi.Policy{Name: req.Name, Description: req.Description, Attributes: req.Attributes, Global: req.Global}
	if err := s.Policies.CreatePolicy(r.Context(), p); err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) handleFindPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.Policies.FindPolicyByID(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handleUpdatePolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	var upd bitnobi.PolicyUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	p, err := s.Policies.UpdatePolicy(r.Context(), id, upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handleDeletePolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Policies.DeletePolicy(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleFindRemoteServers(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.Remotes.FindRemoteServers(r.Context())
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []*bitnobi.RemoteServer{}
	}
	s.probePeers(r.Context(), rs...)
	s.JSON(w, http.StatusOK, map[string]any{"remote_servers": rs})
	return nil
}

func (s *Server) handleCreateRemoteServer(w http.ResponseWriter, r *http.Request) error {
	var in bitnobi.RemoteServerCreate
	if err := s.Decode(w, r, &in); err != nil {
		return err
	}
	rs, err := s.Remotes.CreateRemoteServer(r.Context(), in)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusCreated, rs)
	return nil
}

func (s *Server) handleFindRemoteServer(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	rs, err := s.Remotes.FindRemoteServerByID(r.Context(), id)
	if err != nil {
		return err
	}
	s.probePeers(r.Context(), rs)
	s.JSON(w, http.StatusOK, rs)
	return nil
}

func (s *Server) handleUpdateRemoteServer(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	var upd bitnobi.RemoteServerUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	rs, err := s.Remotes.UpdateRemoteServer(r.Context(), id, upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, rs)
	return nil
}

func (s *Server) handleDeleteRemoteServer(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Remotes.DeleteRemoteServer(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleGetEmailSettings(w http.ResponseWriter, r *http.Request) error {
	es, err := s.Settings.GetEmailSettings(r.Context())
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, es)
	return nil
}

func (s *Server) handleUpdateEmailSettings(w http.ResponseWriter, r *http.Request) error {
	var upd bitnobi.EmailSettingsUpdate
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	es, err := s.Settings.UpdateEmailSettings(r.Context(), upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, es)
	return nil
}

func (s *Server) handleFindAuditEntries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := bitnobi.AuditFilter{ActorID: q.Get("actor"), Action: q.Get("action")}
	var err error
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.dst, err = bitnobi.ParseTime(v); err != nil {
				return bitnobi.Invalidf(p.name, "%q is not an RFC 3339 time such as 2024-05-01T00:00:00Z.", v)
			}
		}
	}
	if v := q.Get("after"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			return bitnobi.Invalidf("after", "%q is not a sequence number (an integer >= 0).", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			return bitnobi.Invalidf("limit", "%q is not a limit (an integer >= 1).", v)
		}
	}
	entries, err := s.Audit.FindAuditEntries(r.Context(), f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*bitnobi.AuditEntry{}
	}
	s.JSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}

func (s *Server) handleVerifyAudit(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Audit.VerifyAuditChain(r.Context())
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, AuditVerifyResponse{OK: true, Entries: n})
	return nil
}
