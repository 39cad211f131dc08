package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserWorkflows builds a workflow in the editor a step at a time
// (Apply after an element), runs it, reads and downloads the result,
// shares it with a policy through the padlock, and draws a report; then
// checks that a user the policy matches sees the result and the report,
// and one it does not match sees neither.
func TestBrowserWorkflows(t *testing.T) {
	b := newBrowser(t)
	b.signUp("ada", pw)
	b.signOut()
	b.signUp("bob", pw)
	b.signOut()
	b.signUp("carol", pw)
	b.signOut()

	// The administrator puts bob in IT.
	b.signIn("ada", pw)
	b.open("/admin/users?q=bob")
	b.follow(`main tbody a`)
	b.waitPath(`^/admin/users/[0-9a-f]{32}$`)
	b.fill("f-attributes", "department=IT")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/admin/users/[0-9a-f]{32}$`)
	b.signOut()

	// alice uploads sales figures.
	b.signUp("alice", pw)
	csvPath := filepath.Join(t.TempDir(), "sales.csv")
	var sb strings.Builder
	sb.WriteString("region,amount\n")
	for i := range 40 {
		fmt.Fprintf(&sb, "%s,%d\n", []string{"north", "south", "east", "west"}[i%4], 10*i)
	}
	if err := os.WriteFile(csvPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.open("/datasources/new")
	b.fill("f-name", "Sales")
	b.run("choose file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{csvPath}))
	b.follow(`#upload-form button[type=submit]`)
	dsID := strings.TrimPrefix(b.waitPath(`^/datasources/[0-9a-f]{32}$`), "/datasources/")

	// The editor starts as Importer -> Result.
	b.open("/workflows")
	b.mustSee("No workflows yet")
	b.follow(`main a[href="/workflows/new"]`)
	b.waitPath(`^/workflows/new$`)
	b.mustSee("Apply: show rows after in")
	b.setValue("#el-0-datasource", dsID)
	// Apply on the importer shows the file's first rows.
	b.follow(`button[value="preview:in"]`)
	b.mustSee("After in (importer)", "region", "north", "(there are more)")
	// Add a Group between them: remove in -> out, connect in -> group -> out.
	b.setValue("#f-new_type", "group")
	b.follow(`button[value="add"]`)
	b.mustSee("Settings of group (JSON)")
	b.setValue("#el-2-config", `{"by": ["region"], "aggregates": [{"op": "sum", "column": "amount", "as": "total"}, {"op": "count"}]}`)
	b.follow(`button[value="unedge:0"]`)
	b.setValue("#f-edge_from", "in")
	b.setValue("#f-edge_to", "group")
	b.follow(`button[value="connect"]`)
	b.setValue("#f-edge_from", "group")
	b.setValue("#f-edge_to", "out")
	b.follow(`button[value="connect"]`)
	b.mustSee("in → group", "group → out")
	b.follow(`button[value="preview:group"]`)
	b.mustSee("After group (group)", "total", "count")
	if got := b.text("#preview tbody"); !strings.Contains(got, "north") || !strings.Contains(got, "1900") {
		t.Fatalf("preview after the group: %q", got)
	}
	if n := get(b, "drawing", chromedp.Evaluate[int](`document.querySelectorAll("svg.graph rect").length`)); n != 3 {
		t.Fatalf("the drawing has %d boxes, want 3", n)
	}
	b.checkPage("workflow-editor")
	// A broken setting is shown beside its element.
	b.setValue("#el-2-config", `{"by": [`)
	b.follow(`button[value="preview:group"]`)
	if got := b.text("#el-2-config-error"); !strings.Contains(got, "not valid JSON") {
		t.Fatalf("bad JSON error: %q", got)
	}
	b.setValue("#el-2-config", `{"by": ["region"], "aggregates": [{"op": "sum", "column": "amount", "as": "total"}, {"op": "count"}]}`)
	b.fill("f-name", "Sales by region", "f-exportables", "region, total")
	b.follow(`button[value="save"]`)
	wfPath := b.waitPath(`^/workflows/[0-9a-f]{32}$`)
	b.mustSee("is saved", "Not run yet")

	// Run: the result opens as a table, with CSV and JSON downloads.
	b.follow(`form[action$="/run"] button`)
	resultPath := b.waitPath(`^/workflows/[0-9a-f]{32}/result\?run=[0-9a-f]{32}$`)
	b.mustSee("The run succeeded: 4 rows.", "Rows 1 to 4 of 4", "Download CSV")
	b.checkPage("result")
	csv := get(b, "download CSV", chromedp.Evaluate[string](`(() => { const x = new XMLHttpRequest(); x.open("GET", document.querySelector('a[href*="result.csv"]').href, false); x.send(); return x.status + "\n" + x.responseText; })()`))
	if want := "200\nregion,total,count\nnorth,1800,10\nsouth,1900,10\neast,2000,10\nwest,2100,10\n"; csv != want {
		t.Fatalf("CSV download:\n%s\nwant:\n%s", csv, want)
	}

	// A policy for IT, attached with the padlock.
	b.open("/policies/new")
	b.fill("f-name", "IT", "f-attributes", "department=IT")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/policies/[0-9a-f]{32}$`)
	b.open(wfPath)
	b.mustSee("0 attached")
	b.click("details.padlock summary") // open the padlock dialog
	b.follow(`form[action$="/policies"] button`)
	b.waitPath(`^/workflows/[0-9a-f]{32}`)
	b.mustSee("The policy is attached", "1 attached", "department=IT")
	b.checkPage("workflow")
	b.open("/workflows")
	b.mustSee("Sales by region", "1 policy")
	b.checkPage("workflows")

	// A report over the result: a bar chart beside the default table.
	b.open("/reports/new?workflow=" + strings.TrimPrefix(wfPath, "/workflows/"))
	b.fill("f-name", "Regions")
	b.checkPage("report-new")
	b.follow(`main form button[type=submit]`)
	b.waitPath(`^/reports/[0-9a-f]{32}/edit$`)
	b.setValue("#chart-1-type", "bar")
	b.fill("chart-1-title", "Total by region", "chart-1-x", "region", "chart-1-y", "total, count")
	b.checkPage("report-edit")
	b.follow(`main form button[type=submit]`)
	reportPath := b.waitPath(`^/reports/[0-9a-f]{32}$`)
	b.mustSee("The report is saved.", "Total by region", "The result", "north")
	if n := get(b, "bars", chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect").length`)); n != 8 {
		t.Fatalf("the bar chart has %d bars, want 8 (4 regions, 2 series)", n)
	}
	b.checkPage("report")
	// Every other chart type draws too.
	b.open(reportPath + "/edit")
	for i, c := range [][4]string{{"line", "region", "total", ""}, {"pie", "region", "total", ""}, {"scatter", "count", "total", ""}, {"text", "", "", "Totals of 2026."}} {
		n := 2 + i
		b.setValue(fmt.Sprintf("#chart-%d-type", n), c[0])
		b.setValue(fmt.Sprintf("#chart-%d-x", n), c[1])
		b.setValue(fmt.Sprintf("#chart-%d-y", n), c[2])
		b.setValue(fmt.Sprintf("#chart-%d-text", n), c[3])
		b.follow(`main form button[type=submit]`)
		b.waitPath(`^/reports/[0-9a-f]{32}$`)
		b.open(reportPath + "/edit")
	}
	b.open(reportPath)
	b.mustSee("Totals of 2026.")
	if n := get(b, "charts", chromedp.Evaluate[int](`document.querySelectorAll("svg.chart").length`)); n != 4 {
		t.Fatalf("%d SVG charts, want 4 (bar, line, pie, scatter)", n)
	}
	b.checkPage("report-all-charts")
	b.signOut()

	// bob (IT) sees the result and the report; he cannot edit the graph.
	b.signIn("bob", pw)
	b.open("/workflows")
	b.mustSee("Sales by region", "shared with you")
	b.open(resultPath)
	b.mustSee("Rows 1 to 4 of 4", "north")
	b.open(reportPath)
	b.mustSee("Total by region")
	b.open(wfPath + "/edit")
	b.mustSee("Only the workflow's owner")
	b.signOut()

	// carol matches no policy: neither result nor report exist for her.
	b.signIn("carol", pw)
	for _, p := range []string{resultPath, reportPath, wfPath} {
		b.open(p)
		b.mustSee("Not found")
	}
	b.open("/workflows")
	if got := b.text("main"); strings.Contains(got, "Sales by region") {
		t.Fatalf("carol's workflows list alice's: %s", got)
	}
}
