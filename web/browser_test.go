package web_test

// End-to-end tests in a real browser: Debian's chromium, headless, driven
// with chromedp over the DevTools protocol. They run when
// BITNOBI_TEST_CHROMIUM names the browser (scripts/with-chromium.sh sets
// it, installing chromium when missing); with BITNOBI_TEST_CHROMIUM_REQUIRED=1
// a missing browser fails instead of skipping.
//
// Each run saves a screenshot of every page at 1280 and 390 px wide in
// testdata/screenshots/ (git-ignored), and checks on each page that every
// field has a label and that nothing is wider than the window.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Environment variables of the browser tests.
const (
	envChromium         = "BITNOBI_TEST_CHROMIUM"
	envChromiumRequired = "BITNOBI_TEST_CHROMIUM_REQUIRED"
)

// browser is one headless chromium on a fresh profile, and the server it
// tests.
type browser struct {
	t    *testing.T
	e    *env
	ctx  context.Context
	shot string // screenshot folder
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv(envChromium)
	if path == "" {
		if os.Getenv(envChromiumRequired) == "1" {
			t.Fatalf("%s=1 but %s is not set: run the tests through scripts/with-chromium.sh", envChromiumRequired, envChromium)
		}
		t.Skipf("set %s to a chromium binary (scripts/with-chromium.sh does) to run the browser tests", envChromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // chromium runs as root here
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	shot := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(shot, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: newEnv(t), ctx: ctx, shot: shot}
}

// run runs actions, failing the test on error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs an action that returns a value, failing the test on error.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open loads path and waits for the page's main element.
func (b *browser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.e.HTTP.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// path returns the current path and query.
func (b *browser) path() string {
	b.t.Helper()
	loc := get(b, "location", chromedp.Location())
	return strings.TrimPrefix(loc, b.e.HTTP.URL)
}

// waitPath waits until the current path matches re, and the page is
// loaded.
func (b *browser) waitPath(re string) string {
	b.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for {
		p := b.path()
		if rx.MatchString(p) {
			state := get(b, "ready state", chromedp.Evaluate[string](`document.readyState`))
			if state == "complete" {
				b.run("main", chromedp.WaitReady(chromedp.CSS("main")))
				return p
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("still at %s, want a path matching %s; page says: %s", p, re, b.text("main"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text returns the visible text of sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// mustSee fails unless main shows each of want.
func (b *browser) mustSee(want ...string) {
	b.t.Helper()
	got := b.text("main")
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.t.Fatalf("page %s does not show %q; it shows:\n%s", b.path(), w, got)
		}
	}
}

// fill types values into the fields with the given ids, clearing each.
func (b *browser) fill(fields ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		sel := "#" + fields[i]
		b.setValue(sel, "")
		b.run("fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), fields[i+1]))
	}
}

// follow clicks sel and waits until a new document has replaced the
// current one (a link followed or a form posted) and has loaded.
func (b *browser) follow(sel string) {
	b.t.Helper()
	get(b, "mark", chromedp.Evaluate[bool](`window.bitnobiOld = true`))
	b.click(sel)
	deadline := time.Now().Add(15 * time.Second)
	for {
		fresh, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!window.bitnobiOld && document.readyState === "complete"`))
		if err == nil && fresh {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("clicking %s loaded no new page (last error %v)", sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setValue sets the value of the field sel with a script.
func (b *browser) setValue(sel, value string) {
	b.t.Helper()
	js, _ := json.Marshal([]string{sel, value})
	get(b, "set "+sel, chromedp.Evaluate[bool](`((a) => { const el = document.querySelector(a[0]); el.value = a[1]; return true; })(`+string(js)+`)`))
}

// click clicks the first element matching sel.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.run("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// checkPage checks every visible field has a label and the page fits the
// window; it then saves screenshots at 1280 and 390 px as name-WIDTH.png.
func (b *browser) checkPage(name string) {
	b.t.Helper()
	for _, w := range []int64{1280, 390} {
		type result struct {
			Unlabelled []string `json:"unlabelled"`
			Overflow   int      `json:"overflow"`
		}
		b.run("emulate "+fmt.Sprint(w), chromedp.EmulateViewport(w, 900))
		res := get(b, "check "+name, chromedp.Evaluate[result](`(() => {
			const unlabelled = [];
			for (const el of document.querySelectorAll("input, select, textarea")) {
				if (el.type === "hidden") continue;
				const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.getAttribute("aria-label") || el.closest("label");
				if (!labelled) unlabelled.push(el.outerHTML);
			}
			return {unlabelled, overflow: document.documentElement.scrollWidth - window.innerWidth};
		})()`))
		if len(res.Unlabelled) > 0 {
			b.t.Errorf("%s: fields without a label: %v", name, res.Unlabelled)
		}
		if res.Overflow > 0 {
			b.t.Errorf("%s at %d px: the page is %d px wider than the window", name, w, res.Overflow)
		}
		png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(b.shot, fmt.Sprintf("%s-%d.png", name, w)), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run("restore viewport", chromedp.EmulateViewport(1280, 900))
}

// signIn signs in through the sign-in page.
func (b *browser) signIn(user, password string) {
	b.t.Helper()
	b.open("/signin")
	b.fill("f-username", user, "f-password", password)
	b.follow(`main button[type=submit]`)
	b.waitPath(`^/datasources`)
}

// signOut presses the header's sign-out button.
func (b *browser) signOut() {
	b.t.Helper()
	b.follow(`form.signout button`)
	b.waitPath(`^/signin`)
	b.mustSee("You are signed out.")
}

// signUp creates an account through the sign-up page (signed in after).
func (b *browser) signUp(user, password string) {
	b.t.Helper()
	b.open("/signup")
	b.fill("f-username", user, "f-email", user+"@example.org", "f-password", password, "f-password2", password)
	b.follow(`main button[type=submit]`)
	b.waitPath(`^/datasources`)
	b.mustSee("Welcome to Bitnobi, " + user)
}

const pw = "correct horse battery"

// TestBrowser walks through the pages as the administrator and two users.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)

	// Without a session, a page sends to sign-in, and back after.
	b.open("/policies")
	if p := b.path(); p != "/signin?next=%2Fpolicies" {
		t.Fatalf("no session: at %s, want the sign-in page", p)
	}
	b.checkPage("signin")
	// The sign-in form is reachable by keyboard: Tab goes through its fields.
	var focused []string
	for range 12 {
		b.run("tab", chromedp.KeyEvent(kb.Tab))
		id := get(b, "focus", chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.textContent.trim()`))
		focused = append(focused, id)
	}
	if s := strings.Join(focused, ","); !strings.Contains(s, "f-username,f-password,Sign in") {
		t.Errorf("Tab order on sign-in: %s", s)
	}

	// Sign up the administrator; a wrong second password is shown beside its field.
	b.open("/signup")
	b.fill("f-username", "ada", "f-email", "ada@example.org", "f-password", pw, "f-password2", "other")
	b.follow(`main button[type=submit]`)
	b.waitPath(`^/signup`)
	if got := b.text("#f-password2-error"); !strings.Contains(got, "differ") {
		t.Fatalf("password2 error: %q", got)
	}
	b.checkPage("signup-error")
	b.fill("f-password", pw, "f-password2", pw)
	b.follow(`main button[type=submit]`)
	b.waitPath(`^/datasources`)
	b.mustSee("Welcome to Bitnobi, ada", "No data sources yet")
	if nav := b.text("header"); !strings.Contains(nav, "Administration") {
		t.Fatalf("the administrator's header has no Administration link: %s", nav)
	}
	b.signOut()

	// A second user uploads a CSV with the progress bar's form.
	b.signUp("bob", pw)
	csvPath := filepath.Join(t.TempDir(), "sales.csv")
	var sb strings.Builder
	sb.WriteString("region,amount,quarter\n")
	for i := range 500 {
		fmt.Fprintf(&sb, "%s,%d,Q%d\n", []string{"north", "south", "east", "west"}[i%4], 10+i, 1+i%4)
	}
	if err := os.WriteFile(csvPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.follow(`a[href="/datasources/new"]`)
	b.waitPath(`^/datasources/new$`)
	b.checkPage("upload")
	b.fill("f-name", "Sales 2026")
	b.run("choose file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{csvPath}))
	b.follow(`#upload-form button[type=submit]`)
	dsPath := b.waitPath(`^/datasources/[0-9a-f]{32}$`)
	b.mustSee("Sales 2026", "sales.csv", "north", "The first 20 rows (the file has more)")
	b.checkPage("datasource")
	b.open("/datasources")
	b.mustSee("Sales 2026", "bob")
	b.checkPage("datasources")

	// bob may not open the administration pages.
	b.open("/admin/users")
	b.mustSee("Only the administrator")
	if nav := b.text("header"); strings.Contains(nav, "Administration") {
		t.Errorf("bob's header links to Administration: %s", nav)
	}
	b.checkPage("forbidden")

	// bob's private policy; bad attributes are shown beside their field.
	b.open("/policies/new")
	b.fill("f-name", "Sales team", "f-attributes", "department")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/policies/new$`)
	if got := b.text("#f-attributes-error"); !strings.Contains(got, "name=value") {
		t.Fatalf("attributes error: %q", got)
	}
	b.checkPage("policy-error")
	b.fill("f-attributes", "department=Sales")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/policies/[0-9a-f]{32}$`)
	b.mustSee("is saved")
	b.signOut()

	// carol matches nothing and sees neither bob's data nor his policy.
	b.signUp("carol", pw)
	if got := b.text("main"); strings.Contains(got, "Sales 2026") {
		t.Fatalf("carol's data sources show bob's: %s", got)
	}
	b.open(dsPath)
	b.mustSee("Not found")
	b.open("/policies")
	if got := b.text("main"); strings.Contains(got, "Sales team") {
		t.Fatalf("carol sees bob's private policy: %s", got)
	}
	b.open("/admin/audit")
	b.mustSee("Only the administrator")
	b.signOut()

	// The administrator sets bob's attributes.
	b.signIn("ada", pw)
	b.follow(`header a[href="/admin/users"]`)
	b.waitPath(`^/admin/users$`)
	b.mustSee("bob@example.org", "carol@example.org")
	b.checkPage("users")
	b.follow(`main tbody a`)
	b.waitPath(`^/admin/users/[0-9a-f]{32}$`)
	b.open("/admin/users?q=bob")
	b.follow(`main tbody a`)
	b.waitPath(`^/admin/users/[0-9a-f]{32}$`)
	b.fill("f-attributes", "department=Sales\norganization=Bitnobi")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/admin/users/[0-9a-f]{32}$`)
	b.mustSee("The user bob is saved.")
	b.checkPage("user")
	b.open("/admin/users")
	b.mustSee("department=Sales", "organization=Bitnobi")

	// A global policy, and how many users it matches today.
	b.open("/policies/new")
	b.fill("f-name", "Sales department", "f-attributes", "department=Sales")
	b.click("#f-global")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/policies/[0-9a-f]{32}$`)
	if got := b.text("#matches"); got != "1" {
		t.Fatalf("the global policy matches %q users, want 1 (bob)", got)
	}
	b.checkPage("policy")
	b.open("/policies")
	b.mustSee("Sales department", "Global", "Sales team", "Private")
	b.checkPage("policies")

	// The audit log: entries, filters, paging by key, the chain's status.
	b.open("/admin/audit")
	b.mustSee("user.signup", "datasource.create", "policy.create", "user.update")
	b.checkPage("audit")
	b.setValue("#f-action", "datasource.create")
	b.follow(`form.filters button`)
	b.waitPath(`action=datasource.create`)
	if got := b.text("tbody"); strings.Contains(got, "user.signup") || !strings.Contains(got, "datasource.create") {
		t.Fatalf("filtered audit log: %s", got)
	}
	b.open("/admin/audit")
	b.follow(`main a.button`)
	b.waitPath(`verify=1`)
	if got := b.text("#chain-status"); !strings.Contains(got, "intact") {
		t.Fatalf("chain status: %q", got)
	}

	// E-mail settings: the password is stored, never shown.
	b.open("/admin/email")
	b.mustSee("Password: not set")
	b.click("#f-enabled")
	b.fill("f-from", "bitnobi@example.org", "f-host", "smtp.example.org", "f-port", "587", "f-user", "mailer", "f-password", "s3cret-smtp-pass")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/admin/email$`)
	b.mustSee("The e-mail settings are saved.", "Password: set")
	html := get(b, "html", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, "s3cret-smtp-pass") {
		t.Fatal("the e-mail page renders the SMTP password")
	}
	b.checkPage("email")

	b.open("/admin/remotes")
	b.fill("f-name", "partner", "f-url", "https://partner.example.org", "f-service_id", "svc", "f-password", "remote-secret")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/admin/remotes$`)
	b.mustSee("partner", "https://partner.example.org", "enabled")
	b.checkPage("remotes")
	b.open("/admin/about")
	b.mustSee("Bitnobi version", "sqlite")
	b.checkPage("about")

	// A form whose CSRF token was removed is refused.
	b.open("/profile")
	b.checkPage("profile")
	get(b, "drop token", chromedp.Evaluate[any](`document.querySelector('main form input[name=csrf]').remove()`))
	b.fill("f-email", "evil@example.org", "f-current_password", pw)
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/profile$`)
	b.mustSee("This form has expired")
	b.open("/profile")
	email := get(b, "email", chromedp.Value(chromedp.CSS("#f-email")))
	if email != "ada@example.org" {
		t.Fatalf("the e-mail changed to %q without a CSRF token", email)
	}
}
