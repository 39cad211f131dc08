package web

import (
	"net/http"

	"github.com/bitnobi/bitnobi"
)

// registerAccountPages registers sign-up, sign-in, sign-out and the
// profile.
func (s *Server) registerAccountPages() {
	s.handle("GET /signin", Public, s.signInPage)
	s.handle("POST /signin", Public, s.signIn)
	s.handle("GET /signup", Public, s.signUpPage)
	s.handle("POST /signup", Public, s.signUp)
	s.handle("POST /signout", User, s.signOut)
	s.handle("GET /profile", User, s.profilePage)
	s.handle("POST /profile", User, s.updateProfile)
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	v.Title = "Sign in"
	v.Form.Values["next"] = safeNext(r.URL.Query().Get("next"))
	s.render(w, r, http.StatusOK, "signin", v, nil)
	return nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Form.fill(r, "username", "next")
	sess, _, err := s.Users.SignIn(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		v.Title = "Sign in"
		s.render(w, r, v.Form.fail(err, "username", "password"), "signin", v, nil)
		return nil
	}
	s.setSession(w, r, sess.Token, sess.ExpiresAt)
	http.Redirect(w, r, safeNext(v.Form.Get("next")), http.StatusSeeOther)
	return nil
}

func (s *Server) signUpPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title = "Sign up"
	s.render(w, r, http.StatusOK, "signup", v, nil)
	return nil
}

func (s *Server) signUp(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Form.fill(r, "username", "email")
	fields := []string{"username", "email", "password", "password2"}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("password2") {
		v.Title = "Sign up"
		s.render(w, r, v.Form.fail(bitnobi.Invalidf("password2", "The two passwords differ: type the same password twice."), fields...), "signup", v, nil)
		return nil
	}
	if _, err := s.Users.SignUp(r.Context(), v.Form.Get("username"), v.Form.Get("email"), password); err != nil {
		v.Title = "Sign up"
		s.render(w, r, v.Form.fail(err, fields...), "signup", v, nil)
		return nil
	}
	sess, _, err := s.Users.SignIn(r.Context(), v.Form.Get("username"), password)
	if err != nil {
		return s.redirect(w, r, "/signin", "Your account is ready: sign in.")
	}
	s.setSession(w, r, sess.Token, sess.ExpiresAt)
	return s.redirect(w, r, "/datasources", "Welcome to Bitnobi, "+v.Form.Get("username")+".")
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, v *view) error {
	if err := s.Users.SignOut(r.Context(), v.token); err != nil && bitnobi.ErrorCode(err) != bitnobi.EUNAUTHORIZED {
		return err
	}
	s.clearSession(w, r)
	return s.redirect(w, r, "/signin", "You are signed out.")
}

func (s *Server) profilePage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Profile", "profile"
	v.Form.Values["email"] = v.User.Email
	s.render(w, r, http.StatusOK, "profile", v, nil)
	return nil
}

func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "Profile", "profile"
	v.Form.fill(r, "email")
	fields := []string{"email", "password", "password2", "current_password"}
	var upd bitnobi.UserUpdate
	if e := v.Form.Get("email"); e != v.User.Email {
		upd.Email = &e
	}
	if p := r.PostFormValue("password"); p != "" {
		if p != r.PostFormValue("password2") {
			s.render(w, r, v.Form.fail(bitnobi.Invalidf("password2", "The two new passwords differ: type the same password twice."), fields...), "profile", v, nil)
			return nil
		}
		upd.Password = &p
	}
	if upd.Email == nil && upd.Password == nil {
		return s.redirect(w, r, "/profile", "Nothing to change.")
	}
	cur := r.PostFormValue("current_password")
	if cur == "" {
		s.render(w, r, v.Form.fail(bitnobi.Invalidf("current_password", "Type your current password to change your e-mail or password."), fields...), "profile", v, nil)
		return nil
	}
	upd.CurrentPassword = &cur
	if _, err := s.Users.UpdateUser(r.Context(), v.User.ID, upd); err != nil {
		s.render(w, r, v.Form.fail(err, fields...), "profile", v, nil)
		return nil
	}
	return s.redirect(w, r, "/profile", "Your profile is saved.")
}
