package web

import (
	"net/http"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// registerAdminPages registers the administration pages: users, the audit
// log, e-mail settings, remote servers and the instance's versions.
func (s *Server) registerAdminPages() {
	s.handle("GET /admin", Admin, func(w http.ResponseWriter, r *http.Request, v *view) error {
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
		return nil
	})
	s.handle("GET /admin/users", Admin, s.usersPage)
	s.handle("GET /admin/users/{id}", Admin, s.userPage)
	s.handle("POST /admin/users/{id}", Admin, s.updateUser)
	s.handle("POST /admin/users/{id}/delete", Admin, s.deleteUser)
	s.handle("GET /admin/audit", Admin, s.auditPage)
	s.handle("GET /admin/email", Admin, s.emailPage)
	s.handle("POST /admin/email", Admin, s.updateEmail)
	s.handle("GET /admin/remotes", Admin, s.remotesPage)
	s.handle("POST /admin/remotes", Admin, s.createRemote)
	s.handle("GET /admin/remotes/{id}", Admin, s.remotePage)
	s.handle("POST /admin/remotes/{id}", Admin, s.updateRemote)
	s.handle("POST /admin/remotes/{id}/delete", Admin, s.deleteRemote)
	s.handle("GET /admin/about", Admin, s.aboutPage)
}

// userList is the data of the users page.
type userList struct {
	Rows  []*userView
	Query listQuery
	Next  string
	First string
	Total int
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Users", "admin"
	lq := readListQuery(r.URL, "username", "created", "email")
	users, err := s.allUsers(r, v)
	if err != nil {
		return err
	}
	rows := make([]keyed[*userView], 0, len(users))
	for _, u := range users {
		uv := newUserView(u)
		var at strings.Builder
		for _, a := range uv.Attributes {
			at.WriteString(a.Key + "=" + a.Value + " ")
		}
		if !contains(lq.Q, u.Username, u.Email, at.String()) {
			continue
		}
		key := sortKeyText(u.Username)
		switch lq.Sort {
		case "created":
			key = sortKeyTime(u.CreatedAt)
		case "email":
			key = sortKeyText(u.Email)
		}
		rows = append(rows, keyed[*userView]{key: key, id: u.ID, row: uv})
	}
	data := userList{Query: lq, Total: len(rows)}
	var next string
	data.Rows, next = keysetPage(rows, lq)
	if next != "" {
		data.Next = lq.URL("/admin/users", next)
	}
	if lq.After != "" {
		data.First = lq.URL("/admin/users", "")
	}
	s.render(w, r, http.StatusOK, "users", v, data)
	return nil
}

// userFields are the user form's fields.
var userFields = []string{"email", "is_admin", "attributes", "password"}

func (s *Server) userPage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := s.Users.FindUserByID(r.Context(), id)
	if err != nil {
		return err
	}
	v.Title, v.Section = "User "+u.Username, "admin"
	v.Form.Values = map[string]string{"email": u.Email, "attributes": attrText(u.Attributes)}
	if u.IsAdmin {
		v.Form.Values["is_admin"] = "on"
	}
	s.render(w, r, http.StatusOK, "user", v, newUserView(u))
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := s.Users.FindUserByID(r.Context(), id)
	if err != nil {
		return err
	}
	v.Title, v.Section = "User "+u.Username, "admin"
	v.Form.fill(r, "email", "is_admin", "attributes")
	m, err := parseAttrs("attributes", v.Form.Get("attributes"))
	if err == nil {
		email, admin := v.Form.Get("email"), v.Form.Get("is_admin") == "on"
		upd := bitnobi.UserUpdate{Attributes: &m}
		if email != u.Email {
			upd.Email = &email
		}
		if admin != u.IsAdmin {
			upd.IsAdmin = &admin
		}
		if p := r.PostFormValue("password"); p != "" {
			upd.Password = &p
		}
		_, err = s.Users.UpdateUser(r.Context(), id, upd)
	}
	if err != nil {
		s.render(w, r, v.Form.fail(err, userFields...), "user", v, newUserView(u))
		return nil
	}
	return s.redirect(w, r, "/admin/users/"+id, "The user "+u.Username+" is saved.")
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Users.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/users", "The user is deleted, with everything they owned.")
}
