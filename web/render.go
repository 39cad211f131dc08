package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// view is what every template gets: the page's title and section, the
// signed-in user (nil before sign-in), the CSRF token for its forms, a
// one-time message, the page's form state and its own data.
type view struct {
	Title   string
	Section string // the navigation entry to highlight
	User    *userView
	CSRF    string
	Flash   string
	Form    *form
	Data    any

	token string          // the session's bearer token (never rendered)
	users []*bitnobi.User // FindUsers' answer, read at most once a request
}

// allUsers returns every user (administrator only: FindUsers refuses
// anyone else), asking the service once per request.
func (s *Server) allUsers(r *http.Request, v *view) ([]*bitnobi.User, error) {
	if v.users == nil {
		users, err := s.Users.FindUsers(r.Context())
		if err != nil {
			return nil, err
		}
		v.users = users
	}
	return v.users, nil
}

// userView is a user as pages show it.
type userView struct {
	ID         string
	Username   string
	Email      string
	IsAdmin    bool
	Attributes []attr
	Created    time.Time
}

// attr is one attribute=value pair.
type attr struct{ Key, Value string }

func newUserView(u *bitnobi.User) *userView {
	return &userView{ID: u.ID, Username: u.Username, Email: u.Email, IsAdmin: u.IsAdmin, Attributes: attrs(u.Attributes), Created: u.CreatedAt}
}

// attrs returns m's pairs sorted by key.
func attrs(m map[string]string) []attr {
	out := make([]attr, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, attr{k, m[k]})
	}
	return out
}

// attrText renders pairs as the "key=value" lines the forms edit.
func attrText(m map[string]string) string {
	var b strings.Builder
	for _, a := range attrs(m) {
		fmt.Fprintf(&b, "%s=%s\n", a.Key, a.Value)
	}
	return b.String()
}

// parseAttrs reads "key=value" lines (blank lines ignored) into a map, or
// an EINVALID error about field naming the bad line.
func parseAttrs(field, text string) (map[string]string, error) {
	m := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, bitnobi.Invalidf(field, "Line %d: write each attribute as name=value, one a line.", i+1)
		}
		if _, dup := m[k]; dup {
			return nil, bitnobi.Invalidf(field, "Line %d: the attribute %q is given twice.", i+1, k)
		}
		m[k] = v
	}
	return m, nil
}

// form is a form's submitted values and the errors to show beside its
// fields; Error is for an error about no field of the form.
type form struct {
	Values map[string]string
	Errors map[string]string
	Error  string
}

func newForm() *form { return &form{Values: map[string]string{}, Errors: map[string]string{}} }

// Get returns a submitted value.
func (f *form) Get(name string) string { return f.Values[name] }

// Err returns the error to show beside field name.
func (f *form) Err(name string) string { return f.Errors[name] }

// Invalid reports whether field name has an error.
func (f *form) Invalid(name string) bool { return f.Errors[name] != "" }

// fill copies the named fields of r's posted form.
func (f *form) fill(r *http.Request, names ...string) {
	for _, n := range names {
		f.Values[n] = r.PostFormValue(n)
	}
}

// fail records err beside the field it names when that is one of fields,
// else above the form. It returns the status to render with.
func (f *form) fail(err error, fields ...string) int {
	if fld := fieldOf(err); fld != "" && slices.Contains(fields, fld) {
		f.Errors[fld] = bitnobi.ErrorMessage(err)
	} else {
		f.Error = bitnobi.ErrorMessage(err)
	}
	return statusOf(err)
}

// templates holds one template set per page, each with the shared layout.
type templates struct {
	byName map[string]*template.Template
	static map[string]string // file name -> ?v= hash
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"bytes":    humanBytes,
	"field":    newField,
}

// fieldView is one form field as the "input", "textarea" and "checkbox"
// templates draw it: a label, the value, and the error beside it.
type fieldView struct {
	Name, Label, Type, Value, Err, Hint, Autocomplete string
	Required                                          bool
}

// newField builds a fieldView from f; opts are "required",
// "autocomplete=..." and "hint=...".
func newField(f *form, name, label, typ string, opts ...string) fieldView {
	fv := fieldView{Name: name, Label: label, Type: typ, Value: f.Get(name), Err: f.Err(name)}
	for _, o := range opts {
		k, val, _ := strings.Cut(o, "=")
		switch k {
		case "required":
			fv.Required = true
		case "autocomplete":
			fv.Autocomplete = val
		case "hint":
			fv.Hint = val
		}
	}
	return fv
}

// humanBytes formats n bytes with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func mustParseTemplates() *templates {
	t := &templates{byName: map[string]*template.Template{}, static: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		t.static[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		panic(err)
	}
	fm := template.FuncMap{"static": func(name string) string { return "/static/" + name + "?v=" + t.static[name] }}
	for k, v := range funcs {
		fm[k] = v
	}
	layout := template.Must(template.New("layout.html").Funcs(fm).ParseFS(templateFS, "templates/layout.html"))
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "layout" {
			continue
		}
		t.byName[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, p))
	}
	return t
}

// render executes page name with v (Data set to data) into a buffer and
// writes it with status, so that a template error is a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view, data any) {
	v.Data = data
	v.Flash = s.takeFlash(w, r) // here, so that a redirect keeps it for the page after
	t := s.pages.byName[name]
	var buf bytes.Buffer
	if t == nil {
		s.Logger.Error("no template", "name", name)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Logger.Error("render page", "name", name, "path", r.URL.Path, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// serveStatic serves the embedded static files; a ?v= query names the
// content's hash, so such a URL is cached for long.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if _, ok := s.pages.static[name]; !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == s.pages.static[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, staticFS, "static/"+name)
}
