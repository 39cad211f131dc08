package web_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// upload posts a CSV as the upload form does without JavaScript and
// returns the new data source's page path.
func (c *client) upload(name, content string) string {
	c.t.Helper()
	tok := c.csrf("/datasources/new")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", name)
	mw.WriteField("description", "")
	mw.WriteField("format", "")
	fw, _ := mw.CreateFormFile("file", name+".csv")
	io.WriteString(fw, content)
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.HTTP.URL+"/datasources/upload?csrf="+url.QueryEscape(tok), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("upload: %d\n%s", resp.StatusCode, b)
	}
	return resp.Header.Get("Location")
}

// TestPagesRender opens every page as the administrator and as a user and
// checks what each shows, and that admin pages are refused to the user.
func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	admin := e.client(t)
	admin.signUp("ada", "correct horse battery")
	bob := e.client(t)
	bob.signUp("bob", "correct horse battery")
	ds := bob.upload("sales", "region,amount\nnorth,10\nsouth,20\n")
	if resp, body := bob.get(ds); resp.StatusCode != 200 || !strings.Contains(body, "<td>north</td>") {
		t.Fatalf("data source page %s: %d\n%s", ds, resp.StatusCode, body)
	}
	if resp, body := bob.get(ds + "/download"); resp.StatusCode != 200 || body != "region,amount\nnorth,10\nsouth,20\n" {
		t.Fatalf("download: %d %q", resp.StatusCode, body)
	}
	// ada (admin) sees bob's data source with its owner; another user would not.
	if _, body := admin.get("/datasources"); !strings.Contains(body, "sales") || !strings.Contains(body, "<td>bob</td>") {
		t.Fatalf("admin's data sources lack bob's:\n%s", body)
	}
	carol := e.client(t)
	carol.signUp("carol", "correct horse battery")
	if _, body := carol.get("/datasources"); strings.Contains(body, "sales") {
		t.Fatal("carol sees bob's data source in the list")
	}
	if resp, _ := carol.get(ds); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("carol opens bob's data source: %d", resp.StatusCode)
	}

	pages := map[string]string{
		"/datasources":     "Data sources",
		"/datasources/new": "Upload a data source",
		"/policies":        "Policies",
		"/policies/new":    "New policy",
		"/profile":         "Your profile",
		"/admin/users":     "bob@example.org",
		"/admin/audit":     "user.signup",
		"/admin/email":     "not set",
		"/admin/remotes":   "Add a remote server",
		"/admin/about":     "Bitnobi version",
	}
	for p, want := range pages {
		resp, body := admin.get(p)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("admin GET %s: %d, want %q in:\n%s", p, resp.StatusCode, want, body)
		}
		if strings.HasPrefix(p, "/admin/") {
			if resp, _ := bob.get(p); resp.StatusCode != http.StatusForbidden {
				t.Errorf("bob GET %s: %d, want 403", p, resp.StatusCode)
			}
		}
	}
	if resp, body := admin.get("/admin/audit?verify=1"); !strings.Contains(body, "The hash chain is intact") {
		t.Errorf("verify: %d\n%s", resp.StatusCode, body)
	}
	// Sealed into segments (of 4 entries here), the log reads and
	// verifies the same.
	_, unsealed := admin.get("/admin/audit")
	e.DB.AuditSegmentSize = 4
	if res, err := e.DB.SealAudit(context.Background()); err != nil || res.Segments == 0 {
		t.Fatalf("SealAudit()=%+v, %v", res, err)
	}
	if _, body := admin.get("/admin/audit"); strings.Count(body, "<tr") < strings.Count(unsealed, "<tr") || !strings.Contains(body, "user.signup") {
		t.Errorf("sealed audit log page lost entries:\n%s", body)
	}
	if resp, body := admin.get("/admin/audit?verify=1"); !strings.Contains(body, "The hash chain is intact") {
		t.Errorf("verify after sealing: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := admin.get("/admin/audit?since=yesterday"); resp.StatusCode != 400 || !regexp.MustCompile(`id="f-since-error">[^<]*not a date`).MatchString(body) {
		t.Errorf("bad since: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := admin.get("/nope"); resp.StatusCode != 404 {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
}

// TestFieldErrors checks that the server's error appears beside the field
// it concerns.
func TestFieldErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.signUp("ada", "correct horse battery")
	tok := c.csrf("/policies/new")
	resp, body := c.post("/policies/new", url.Values{"csrf": {tok}, "name": {"IT"}, "attributes": {"department"}})
	if resp.StatusCode != 400 || !regexp.MustCompile(`id="f-attributes-error">Line 1`).MatchString(body) {
		t.Fatalf("bad attributes: %d\n%s", resp.StatusCode, body)
	}
	resp, body = c.post("/policies/new", url.Values{"csrf": {tok}, "name": {""}, "attributes": {"department=IT"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `id="f-name-error"`) {
		t.Fatalf("empty name: %d\n%s", resp.StatusCode, body)
	}
	resp, body = c.post("/profile", url.Values{"csrf": {tok}, "email": {"new@example.org"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `id="f-current_password-error"`) {
		t.Fatalf("no current password: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = c.post("/policies/new", url.Values{"csrf": {tok}, "name": {"IT staff"}, "attributes": {"department=IT\n"}, "global": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create policy: %d", resp.StatusCode)
	}
	if _, body := c.get(resp.Header.Get("Location")); !strings.Contains(body, `id="matches">0<`) {
		t.Fatalf("policy page lacks the match count:\n%s", body)
	}
}
