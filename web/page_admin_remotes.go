package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// remoteRow is a remote server as the pages show it: never its password.
type remoteRow struct {
	ID, Name, URL, ServiceID string
	PasswordSet, Enabled     bool
	Updated                  time.Time
}

func newRemoteRow(rs *bitnobi.RemoteServer) remoteRow {
	return remoteRow{ID: rs.ID, Name: rs.Name, URL: rs.URL, ServiceID: rs.ServiceID, PasswordSet: rs.PasswordSet, Enabled: rs.Enabled, Updated: rs.UpdatedAt}
}

// remoteFields are the remote-server form's fields.
var remoteFields = []string{"name", "url", "service_id", "password", "enabled"}

func (s *Server) remotesPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Remote servers", "admin"
	v.Form.Values["enabled"] = "on"
	return s.renderRemotes(w, r, v, http.StatusOK)
}

func (s *Server) renderRemotes(w http.ResponseWriter, r *http.Request, v *view, status int) error {
	list, err := s.Remotes.FindRemoteServers(r.Context())
	if err != nil {
		return err
	}
	rows := make([]remoteRow, 0, len(list))
	for _, rs := range list {
		rows = append(rows, newRemoteRow(rs))
	}
	s.render(w, r, status, "remotes", v, rows)
	return nil
}

func (s *Server) createRemote(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Remote servers", "admin"
	v.Form.fill(r, "name", "url", "service_id", "enabled")
	on := v.Form.Get("enabled") == "on"
	in := bitnobi.RemoteServerCreate{Name: strings.TrimSpace(v.Form.Get("name")), URL: strings.TrimSpace(v.Form.Get("url")),
		ServiceID: strings.TrimSpace(v.Form.Get("service_id")), Password: r.PostFormValue("password"), Enabled: &on}
	rs, err := s.Remotes.CreateRemoteServer(r.Context(), in)
	if err != nil {
		return s.renderRemotes(w, r, v, v.Form.fail(err, remoteFields...))
	}
	return s.redirect(w, r, "/admin/remotes", "The remote server "+rs.Name+" is added.")
}

func (s *Server) remotePage(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rs, err := s.Remotes.FindRemoteServerByID(r.Context(), id)
	if err != nil {
		return err
	}
	v.Title, v.Section = "Remote server "+rs.Name, "admin"
	v.Form.Values = map[string]string{"name": rs.Name, "url": rs.URL, "service_id": rs.ServiceID}
	if rs.Enabled {
		v.Form.Values["enabled"] = "on"
	}
	s.render(w, r, http.StatusOK, "remote", v, newRemoteRow(rs))
	return nil
}

func (s *Server) updateRemote(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rs, err := s.Remotes.FindRemoteServerByID(r.Context(), id)
	if err != nil {
		return err
	}
	v.Title, v.Section = "Remote server "+rs.Name, "admin"
	v.Form.fill(r, "name", "url", "service_id", "enabled", "clear_password")
	name, u, sid := strings.TrimSpace(v.Form.Get("name")), strings.TrimSpace(v.Form.Get("url")), strings.TrimSpace(v.Form.Get("service_id"))
	on := v.Form.Get("enabled") == "on"
	upd := bitnobi.RemoteServerUpdate{Name: &name, URL: &u, ServiceID: &sid, Enabled: &on}
	if p := r.PostFormValue("password"); p != "" {
		upd.Password = &p
	} else if v.Form.Get("clear_password") == "on" {
		empty := ""
		upd.Password = &empty
	}
	if _, err := s.Remotes.UpdateRemoteServer(r.Context(), id, upd); err != nil {
		s.render(w, r, v.Form.fail(err, remoteFields...), "remote", v, newRemoteRow(rs))
		return nil
	}
	return s.redirect(w, r, "/admin/remotes/"+id, "The remote server "+name+" is saved.")
}

func (s *Server) deleteRemote(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Remotes.DeleteRemoteServer(r.Context(), id); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/remotes", "The remote server is removed.")
}
