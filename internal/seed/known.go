package seed

import (
	"context"
	"fmt"
	"strings"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store"
)

// KnownCSV is the content of the uploaded data source [FillKnown] creates.
const KnownCSV = "name,organization,department,age\nAlice,Bitnobi,IT,34\nBob,Bitnobi,Research,41\nCarol,Acme,Finance,29\n"

// The plain values of the secrets [FillKnown] stores.
const (
	KnownSQLPassword    = "s3cret-db-password"
	KnownRemotePassword = "remote-service-password"
	KnownSMTPPassword   = "smtp-password"
)

// Known is the small, hand-written state [FillKnown] writes, as the
// services returned it: what tests of backups look for after a restore.
type Known struct {
	Admin, Alice, Bob    *bitnobi.User
	ITPolicy, AcmePolicy *bitnobi.Policy // global (by admin); private (by alice)
	CSVSource, SQLSource *bitnobi.DataSource
	Workflow             *bitnobi.Workflow // alice's, over CSVSource, ITPolicy attached
	Run                  *bitnobi.WorkflowRun
	Report               *bitnobi.Report
	Remote               *bitnobi.RemoteServer
}

// FillKnown fills an empty, migrated database (with its blob store and
// master key set) with a little of everything, through the services as
// an HTTP request would, each change with its audit entry: three users
// with attributes ("admin", the administrator, "alice" and "bob"),
// policies (one global, one with unicode, quotes and a newline), an
// uploaded CSV data source ([KnownCSV]), an SQL data source with a
// sealed password, alice's workflow "Count by org" (importer -> group by
// organization -> result) with the global policy attached and a
// succeeded run, a report over it, a remote server and e-mail settings
// (both with passwords, both enabled). Every user's password is
// [Password], hashed with [FastPassword]. Record IDs are random; the
// database's clock is left as it is. It refuses ([ErrSeeded]) a
// database that has users already.
func FillKnown(ctx context.Context, db *store.DB) (*Known, error) {
	var n int64
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return nil, fmt.Errorf("seed known state: count users: %w", err)
	}
	if n > 0 {
		return nil, ErrSeeded
	}
	k := &Known{}
	users := &store.UserService{DB: db, Password: FastPassword}
	policies := &store.PolicyService{DB: db}
	sources := &store.DataSourceService{DB: db}
	flows := &store.WorkflowService{DB: db}
	step := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("seed known state: %s: %w", what, err)
		}
		return nil
	}

	// Users: the first to sign up is the administrator, who sets every
	// user's attributes.
	anon := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{RemoteAddr: "192.0.2.1"})
	for _, u := range []struct {
		name  string
		to    **bitnobi.User
		attrs map[string]string
	}{
		{AdminUser, &k.Admin, map[string]string{"organization": "Bitnobi", "department": "IT"}},
		{"alice", &k.Alice, map[string]string{"organization": "Bitnobi", "department": "Research"}},
		{"bob", &k.Bob, map[string]string{"organization": "Acme"}},
	} {
		nu, err := users.SignUp(anon, u.name, u.name+"@example.org", Password)
		if err := step("sign up "+u.name, err); err != nil {
			return nil, err
		}
		if k.Admin == nil {
			k.Admin = nu
		}
		nu, err = users.UpdateUser(actorCtx(ctx, k.Admin), nu.ID, bitnobi.UserUpdate{Attributes: &u.attrs})
		if err := step("set attributes of "+u.name, err); err != nil {
			return nil, err
		}
		*u.to = nu
	}
	admin, alice := actorCtx(ctx, k.Admin), actorCtx(ctx, k.Alice)

	k.ITPolicy = &bitnobi.Policy{Name: "Bitnobi IT", Description: "IT staff of Bitnobi", Global: true,
		Attributes: map[string]string{"organization": "Bitnobi", "department": "IT"}}
	if err := step("create policy", policies.CreatePolicy(admin, k.ITPolicy)); err != nil {
		return nil, err
	}
	k.AcmePolicy = &bitnobi.Policy{Name: "Acme — «partners»", Description: "unicode, \"quotes\"\nand a newline",
		Attributes: map[string]string{"organization": "Acme"}}
	if err := step("create policy", policies.CreatePolicy(alice, k.AcmePolicy)); err != nil {
		return nil, err
	}

	k.CSVSource = &bitnobi.DataSource{Name: "People", Format: bitnobi.FormatCSV, Filename: "people.csv"}
	if err := step("upload", sources.CreateFileDataSource(alice, k.CSVSource, strings.NewReader(KnownCSV), 0)); err != nil {
		return nil, err
	}
	k.SQLSource = &bitnobi.DataSource{Name: "HR database", Driver: "postgres", Host: "db.example.org", Port: 5432,
		Database: "hr", User: "reader", Query: "SELECT 1"}
	if err := step("create SQL data source", sources.CreateSQLDataSource(admin, k.SQLSource, KnownSQLPassword)); err != nil {
		return nil, err
	}

	k.Workflow = &bitnobi.Workflow{
		Name: "Count by org",
		Graph: bitnobi.Graph{
			Elements: []bitnobi.Element{
				importer("in", k.CSVSource.ID),
				element("g", bitnobi.ElementGroup, bitnobi.GroupConfig{By: []string{"organization"}, Aggregates: []bitnobi.Aggregate{{Op: bitnobi.AggCount}}}),
				element("out", bitnobi.ElementResult, nil),
			},
			Edges: edges("in", "g", "g", "out"),
		},
		Exportables: []string{"organization"},
	}
	if err := step("create workflow", flows.CreateWorkflow(alice, k.Workflow)); err != nil {
		return nil, err
	}
	if err := step("attach policy", flows.AttachPolicy(alice, k.Workflow.ID, k.ITPolicy.ID)); err != nil {
		return nil, err
	}
	run, err := flows.StartRun(alice, k.Workflow.ID)
	if err := step("run workflow", err); err != nil {
		return nil, err
	}
	if run.Status != bitnobi.RunSucceeded {
		return nil, fmt.Errorf("seed known state: run workflow: %s: %s", run.Status, run.Error)
	}
	k.Run = run
	k.Report = &bitnobi.Report{WorkflowID: k.Workflow.ID, Name: "Orgs",
		Charts: []bitnobi.Chart{{Type: bitnobi.ChartBar, X: "organization", Y: []string{"count"}}}}
	if err := step("create report", (&store.ReportService{DB: db}).CreateReport(alice, k.Report)); err != nil {
		return nil, err
	}

	k.Remote, err = (&store.RemoteServerService{DB: db}).CreateRemoteServer(admin, bitnobi.RemoteServerCreate{
		Name: "partner", URL: "https://partner.example.org", ServiceID: "svc-1", Password: KnownRemotePassword,
	})
	if err := step("create remote server", err); err != nil {
		return nil, err
	}
	pw := KnownSMTPPassword
	_, err = (&store.SettingsService{DB: db}).UpdateEmailSettings(admin, bitnobi.EmailSettingsUpdate{
		From: "bitnobi@example.org", Host: "smtp.example.org", Port: 587, User: "bitnobi", Password: &pw, Enabled: true,
	})
	if err := step("save e-mail settings", err); err != nil {
		return nil, err
	}
	return k, nil
}

// actorCtx returns ctx acting as u, from the address FillKnown's
// requests come from.
func actorCtx(ctx context.Context, u *bitnobi.User) context.Context {
	return bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{
		UserID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin, Attributes: u.Attributes, RemoteAddr: "192.0.2.1",
	})
}
