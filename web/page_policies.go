package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// registerPolicyPages registers the policy list and the create, edit and
// delete forms.
func (s *Server) registerPolicyPages() {
	s.handle("GET /policies", User, s.policiesPage)
	s.handle("GET /policies/new", User, s.newPolicyPage)
	s.handle("POST /policies/new", User, s.createPolicy)
	s.handle("GET /policies/{id}", User, s.policyPage)
	s.handle("POST /policies/{id}", User, s.updatePolicy)
	s.handle("POST /policies/{id}/delete", User, s.deletePolicy)
}

// policyRow is a policy as the list shows it.
type policyRow struct {
	ID, Name, Description, Owner string
	Attributes                   []attr
	Global, Mine                 bool
	Matches                      int // users matching today; -1 when not shown
	Updated                      time.Time
}

// policyList is the data of the policy list.
type policyList struct {
	Rows         []policyRow
	ShowsMatches bool
}

// matchCounter counts the users a policy matches. Only the administrator
// may list users, so only the administrator sees the counts: for anyone
// else they would tell what attributes other users have.
func (s *Server) matchCounter(r *http.Request, v *view) (func(*bitnobi.Policy) int, error) {
	if !v.User.IsAdmin {
		return nil, nil
	}
	users, err := s.allUsers(r, v)
	if err != nil {
		return nil, err
	}
	return func(p *bitnobi.Policy) int {
		n := 0
		for _, u := range users {
			if p.Matches(u.Attributes) {
				n++
			}
		}
		return n
	}, nil
}

func (s *Server) policiesPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Policies", "policies"
	ps, err := s.Policies.FindPolicies(r.Context())
	if err != nil {
		return err
	}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return err
	}
	count, err := s.matchCounter(r, v)
	if err != nil {
		return err
	}
	data := policyList{ShowsMatches: count != nil}
	for _, p := range ps {
		row := policyRow{ID: p.ID, Name: p.Name, Description: p.Description, Owner: names[p.OwnerID], Attributes: attrs(p.Attributes),
			Global: p.Global, Mine: p.OwnerID == v.User.ID, Matches: -1, Updated: p.UpdatedAt}
		if row.Owner == "" {
			row.Owner = "another user"
		}
		if count != nil {
			row.Matches = count(p)
		}
		data.Rows = append(data.Rows, row)
	}
	s.render(w, r, http.StatusOK, "policies", v, data)
	return nil
}

// policyForm is the data of the create and edit page.
type policyForm struct {
	ID        string // "" when creating
	CanGlobal bool   // the administrator may make a policy global
	CanEdit   bool
	Owner     string
	Matches   int
}

func (s *Server) newPolicyPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "New policy", "policies"
	s.render(w, r, http.StatusOK, "policy", v, policyForm{CanGlobal: v.User.IsAdmin, CanEdit: true, Matches: -1})
	return nil
}

// policyFields are the policy form's fields.
var policyFields = []string{"name", "description", "attributes", "global"}

// readPolicyForm reads the posted policy into v.Form and a Policy.
func readPolicyForm(r *http.Request, v *view) (*bitnobi.Policy, error) {
	v.Form.fill(r, "name", "description", "attributes", "global")
	m, err := parseAttrs("attributes", v.Form.Get("attributes"))
	if err != nil {
		return nil, err
	}
	return &bitnobi.Policy{Name: strings.TrimSpace(v.Form.Get("name")), Description: v.Form.Get("description"), Attributes: m, Global: v.Form.Get("global") == "on"}, nil
}

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "New policy", "policies"
	p, err := readPolicyForm(r, v)
	if err == nil {
		err = s.Policies.CreatePolicy(r.Context(), p)
	}
	if err != nil {
		s.render(w, r, v.Form.fail(err, policyFields...), "policy", v, policyForm{CanGlobal: v.User.IsAdmin, CanEdit: true, Matches: -1})
		return nil
	}
	return s.redirect(w, r, "/policies/"+p.ID, "The policy "+p.Name+" is saved.")
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := s.Policies.FindPolicyByID(r.Context(), id)
	if err != nil {
		return err
	}
	v.Form.Values = map[string]string{"name": p.Name, "description": p.Description, "attributes": attrText(p.Attributes)}
	if p.Global {
		v.Form.Values["global"] = "on"
	}
	pf, err := s.policyFormOf(r, v, p)
	if err != nil {
		return err
	}
	v.Title, v.Section = p.Name, "policies"
	s.render(w, r, http.StatusOK, "policy", v, pf)
	return nil
}

// policyFormOf describes an existing policy's page.
func (s *Server) policyFormOf(r *http.Request, v *view, p *bitnobi.Policy) (policyForm, error) {
	pf := policyForm{ID: p.ID, CanGlobal: v.User.IsAdmin, CanEdit: v.User.IsAdmin || p.OwnerID == v.User.ID, Matches: -1}
	names, err := s.ownerNames(r, v)
	if err != nil {
		return pf, err
	}
	if pf.Owner = names[p.OwnerID]; pf.Owner == "" {
		pf.Owner = "another user"
	}
	count, err := s.matchCounter(r, v)
	if err != nil {
		return pf, err
	}
	if count != nil {
		pf.Matches = count(p)
	}
	return pf, nil
}

func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	old, err := s.Policies.FindPolicyByID(r.Context(), id)
	if err != nil {
		return err
	}
	p, err := readPolicyForm(r, v)
	if err == nil {
		upd := bitnobi.PolicyUpdate{Name: &p.Name, Description: &p.Description, Attributes: &p.Attributes}
		if v.User.IsAdmin {
			upd.Global = &p.Global
		}
		_, err = s.Policies.UpdatePolicy(r.Context(), id, upd)
	}
	if err != nil {
		pf, ferr := s.policyFormOf(r, v, old)
		if ferr != nil {
			return ferr
		}
		v.Title, v.Section = old.Name, "policies"
		s.render(w, r, v.Form.fail(err, policyFields...), "policy", v, pf)
		return nil
	}
	return s.redirect(w, r, "/policies/"+id, "The policy "+p.Name+" is saved.")
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Policies.DeletePolicy(r.Context(), id); err != nil {
		return err
	}
	return s.redirect(w, r, "/policies", "The policy is deleted.")
}
