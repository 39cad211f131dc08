package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bitnobi/bitnobi"
)

// auditActions are the actions the audit page's filter offers.
var auditActions = []string{
	bitnobi.ActionSignUp, bitnobi.ActionSignIn, bitnobi.ActionSignOut, bitnobi.ActionUserUpdate, bitnobi.ActionUserDelete,
	bitnobi.ActionPolicyCreate, bitnobi.ActionPolicyUpdate, bitnobi.ActionPolicyDelete,
	bitnobi.ActionDataSourceCreate, bitnobi.ActionDataSourceUpdate, bitnobi.ActionDataSourceDelete, bitnobi.ActionDataSourceAccess,
	bitnobi.ActionWorkflowCreate, bitnobi.ActionWorkflowUpdate, bitnobi.ActionWorkflowDelete, bitnobi.ActionWorkflowStart, bitnobi.ActionWorkflowEnd,
	bitnobi.ActionReportCreate, bitnobi.ActionReportUpdate, bitnobi.ActionReportDelete,
	bitnobi.ActionRemoteCreate, bitnobi.ActionRemoteUpdate, bitnobi.ActionRemoteDelete,
	bitnobi.ActionSettingsUpdate, bitnobi.ActionRestore,
}

// auditRow is one audit entry as the page shows it.
type auditRow struct {
	Seq                                                                                int64
	At                                                                                 time.Time
	Actor, Action, Target, TargetID, TargetShort, Detail, RemoteAddr, RemoteUser, Hash string
}

// auditView is the data of the audit page.
type auditView struct {
	Rows    []auditRow
	Actions []string
	Next    string // URL of the next page
	First   string
	// Verified is set when the chain was checked on this request.
	Verified      bool
	VerifiedOK    bool
	VerifiedCount int64
	VerifyMessage string
	VerifyURL     string
}

// auditPageSize is how many entries a page shows.
const auditPageSize = 100

// auditPage lists the audit log oldest first, pages by sequence number
// (keyset: "after" is the last Seq shown), with filters on the actor's
// username, the action and a date range. ?verify=1 also checks the whole
// hash chain, which reads every entry and so is asked for, not done on
// every view.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Audit log", "admin"
	q := r.URL.Query()
	v.Form.Values = map[string]string{"actor": q.Get("actor"), "action": q.Get("action"), "since": q.Get("since"), "until": q.Get("until")}
	data := auditView{Actions: auditActions}
	f := bitnobi.AuditFilter{Action: q.Get("action"), Limit: auditPageSize}
	fields := []string{"actor", "action", "since", "until"}
	bad := func(err error) error {
		s.render(w, r, v.Form.fail(err, fields...), "audit", v, data)
		return nil
	}
	if name := q.Get("actor"); name != "" {
		id, err := s.userIDByName(r, v, name)
		if err != nil {
			return bad(err)
		}
		f.ActorID = id
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
		add  int
	}{{"since", &f.Since, 0}, {"until", &f.Until, 1}} {
		if val := q.Get(d.name); val != "" {
			t, err := time.Parse("2006-01-02", val)
			if err != nil {
				return bad(bitnobi.Invalidf(d.name, "%q is not a date such as 2026-05-01.", val))
			}
			*d.dst = t.AddDate(0, 0, d.add) // "until" includes its day
		}
	}
	if val := q.Get("after"); val != "" {
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 {
			return bad(bitnobi.Invalidf("after", "%q is not a sequence number.", val))
		}
		f.AfterSeq = n
	}
	entries, err := s.Audit.FindAuditEntries(r.Context(), f)
	if err != nil {
		if fieldOf(err) != "" {
			return bad(err)
		}
		return err
	}
	for _, e := range entries {
		row := auditRow{Seq: e.Seq, At: e.At, Actor: e.ActorName, Action: e.Action, Target: e.TargetType, Detail: e.Detail,
			RemoteAddr: e.RemoteAddr, RemoteUser: e.RemoteUser, Hash: e.Hash}
		if len(e.TargetID) > 8 {
			// Shown by its last, random, characters (the first are a
			// time, alike for entries close in time), in full on hover.
			row.TargetID, row.TargetShort = e.TargetID, "…"+e.TargetID[len(e.TargetID)-8:]
		} else if e.TargetID != "" {
			row.Target += " " + e.TargetID
		}
		if row.Actor == "" {
			row.Actor = "—"
		}
		data.Rows = append(data.Rows, row)
	}
	page := func(after int64, verify bool) string {
		u := url.Values{}
		for _, k := range fields {
			if val := q.Get(k); val != "" {
				u.Set(k, val)
			}
		}
		if after > 0 {
			u.Set("after", strconv.FormatInt(after, 10))
		}
		if verify {
			u.Set("verify", "1")
		}
		return "/admin/audit?" + u.Encode()
	}
	if len(entries) == auditPageSize {
		data.Next = page(entries[len(entries)-1].Seq, false)
	}
	if f.AfterSeq > 0 {
		data.First = page(0, false)
	}
	data.VerifyURL = page(f.AfterSeq, true)
	if q.Get("verify") == "1" {
		data.Verified = true
		n, err := s.Audit.VerifyAuditChain(r.Context())
		switch {
		case err == nil:
			data.VerifiedOK, data.VerifiedCount = true, n
		case bitnobi.ErrorCode(err) == bitnobi.ECONFLICT:
			data.VerifyMessage, data.VerifiedCount = bitnobi.ErrorMessage(err), n
		default:
			return err
		}
	}
	s.render(w, r, http.StatusOK, "audit", v, data)
	return nil
}

// userIDByName returns the ID of the user called name (administrator
// only, through FindUsers).
func (s *Server) userIDByName(r *http.Request, v *view, name string) (string, error) {
	users, err := s.allUsers(r, v)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Username == name {
			return u.ID, nil
		}
	}
	return "", bitnobi.Invalidf("actor", "No user is called %q.", name)
}
