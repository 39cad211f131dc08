package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// emailView is the data of the e-mail settings page: never the password,
// only whether one is stored.
type emailView struct {
	PasswordSet bool
	Updated     time.Time
}

// emailFields are the e-mail form's fields.
var emailFields = []string{"from", "host", "port", "user", "password", "enabled"}

func (s *Server) emailPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "E-mail settings", "admin"
	es, err := s.Settings.GetEmailSettings(r.Context())
	if err != nil {
		return err
	}
	v.Form.Values = map[string]string{"from": es.From, "host": es.Host, "user": es.User}
	if es.Port != 0 {
		v.Form.Values["port"] = strconv.Itoa(es.Port)
	}
	if es.Enabled {
		v.Form.Values["enabled"] = "on"
	}
	s.render(w, r, http.StatusOK, "email", v, emailView{PasswordSet: es.PasswordSet, Updated: es.UpdatedAt})
	return nil
}

func (s *Server) updateEmail(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "E-mail settings", "admin"
	es, err := s.Settings.GetEmailSettings(r.Context())
	if err != nil {
		return err
	}
	v.Form.fill(r, "from", "host", "port", "user", "enabled", "clear_password")
	upd := bitnobi.EmailSettingsUpdate{From: strings.TrimSpace(v.Form.Get("from")), Host: strings.TrimSpace(v.Form.Get("host")),
		User: v.Form.Get("user"), Enabled: v.Form.Get("enabled") == "on"}
	if p := r.PostFormValue("password"); p != "" {
		upd.Password = &p
	} else if v.Form.Get("clear_password") == "on" {
		empty := ""
		upd.Password = &empty
	}
	if ps := strings.TrimSpace(v.Form.Get("port")); ps != "" {
		if upd.Port, err = strconv.Atoi(ps); err != nil {
			err = bitnobi.Invalidf("port", "The port must be a number between 1 and 65535.")
		}
	}
	if err == nil {
		_, err = s.Settings.UpdateEmailSettings(r.Context(), upd)
	}
	if err != nil {
		s.render(w, r, v.Form.fail(err, emailFields...), "email", v, emailView{PasswordSet: es.PasswordSet, Updated: es.UpdatedAt})
		return nil
	}
	return s.redirect(w, r, "/admin/email", "The e-mail settings are saved.")
}
