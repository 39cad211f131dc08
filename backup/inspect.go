package backup

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// Entities that [Inspect] lists, by the names "bitnobi backups inspect"
// accepts.
const (
	EntityUsers       = "users"
	EntityPolicies    = "policies"
	EntityDataSources = "datasources"
	EntityWorkflows   = "workflows"
	EntityReports     = "reports"
	EntityRemotes     = "remotes"
)

// InspectEntities lists the entities [Inspect] can list, in the order it
// shows them.
var InspectEntities = []string{EntityUsers, EntityPolicies, EntityDataSources, EntityWorkflows, EntityReports, EntityRemotes}

// ParseEntity returns the entity named s ("users", "data-sources",
// "remote_servers"...), and whether there is one.
func ParseEntity(s string) (string, bool) {
	s = strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(s))
	switch s {
	case "user", "users":
		return EntityUsers, true
	case "policy", "policies":
		return EntityPolicies, true
	case "datasource", "datasources":
		return EntityDataSources, true
	case "workflow", "workflows":
		return EntityWorkflows, true
	case "report", "reports":
		return EntityReports, true
	case "remote", "remotes", "remoteserver", "remoteservers":
		return EntityRemotes, true
	}
	return "", false
}

// Inspection is what a backup holds, read from its table files without
// restoring it. It never holds a secret: no password hash, no sealed
// secret, no session, no secret ID.
type Inspection struct {
	Backup        string    `json:"backup"`
	CreatedAt     time.Time `json:"created_at"`
	AppVersion    string    `json:"app_version"`
	SchemaVersion int       `json:"schema_version"`
	Engine        string    `json:"engine"`
	Host          string    `json:"host"`
	InstanceID    string    `json:"instance_id"`
	// Counts has the number of rows of every table, in the manifest's
	// order.
	Counts []Count `json:"counts"`
	// Audit counts the audit log's entries, sealed and live.
	Audit AuditCount `json:"audit"`

	// The entities asked for, each sorted by name; nil when not asked.
	Users         []InspectedUser       `json:"users,omitzero"`
	Policies      []InspectedPolicy     `json:"policies,omitzero"`
	DataSources   []InspectedDataSource `json:"datasources,omitzero"`
	Workflows     []InspectedWorkflow   `json:"workflows,omitzero"`
	Reports       []InspectedReport     `json:"reports,omitzero"`
	RemoteServers []InspectedRemote     `json:"remotes,omitzero"`
}

// Count is the number of rows of one table.
type Count struct {
	Table  string `json:"table"`
	Entity string `json:"entity"` // see [store.Entity]
	Rows   int64  `json:"rows"`
}

// AuditCount counts the entries of a backup's audit log: those sealed in
// segments (format 5 and later; by their index, audit_segments, without reading the
// segment files) and the live ones (audit_log's rows).
type AuditCount struct {
	Entries  int64 `json:"entries"`  // Sealed + Live
	Sealed   int64 `json:"sealed"`   // entries in sealed segments
	Segments int64 `json:"segments"` // sealed segments
	Live     int64 `json:"live"`     // rows of audit_log
}

// InspectedUser is a user as a backup holds it, without the password hash.
type InspectedUser struct {
	ID         string            `json:"id"`
	Username   string            `json:"username"`
	Email      string            `json:"email"`
	Admin      bool              `json:"admin"`
	Attributes map[string]string `json:"attributes"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// InspectedPolicy is a policy as a backup holds it.
type InspectedPolicy struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Owner       string            `json:"owner"` // username, or the owner's ID if no user has it
	Description string            `json:"description"`
	Global      bool              `json:"global"`
	Attributes  map[string]string `json:"attributes"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// InspectedDataSource is a data source as a backup holds it, without its
// password.
type InspectedDataSource struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Kind      string    `json:"kind"` // file or sql
	Format    string    `json:"format,omitempty"`
	Filename  string    `json:"filename,omitempty"`
	Size      int64     `json:"size,omitempty"`
	SQLDriver string    `json:"sql_driver,omitempty"`
	SQLHost   string    `json:"sql_host,omitempty"`
	SQLPort   int64     `json:"sql_port,omitempty"`
	SQLDB     string    `json:"sql_database,omitempty"`
	SQLUser   string    `json:"sql_user,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// InspectedWorkflow is a workflow as a backup holds it.
type InspectedWorkflow struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	Description string    `json:"description"`
	Policies    []string  `json:"policies"` // names of the attached policies
	Runs        int64     `json:"runs"`
	LastRun     string    `json:"last_run,omitempty"` // status of the latest run
	LastRunAt   time.Time `json:"last_run_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// InspectedReport is a report as a backup holds it.
type InspectedReport struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Workflow  string    `json:"workflow"` // the workflow's name
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// InspectedRemote is a remote server as a backup holds it, without its
// password.
type InspectedRemote struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	ServiceID string    `json:"service_id"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Inspect reads the backup r and lists the entities asked for (any of
// [InspectEntities]; none means all), with the row counts of every table.
// It reads only the tables it needs, one row at a time; what it returns
// is as long as the lists of those entities. Secrets, password hashes and
// the audit log's entries are never read (its sealed segments are counted
// from their index, one row a segment).
func Inspect(ctx context.Context, r *Reader, entities ...string) (*Inspection, error) {
	m := r.Manifest()
	in := &Inspection{
		Backup: r.Name(), CreatedAt: m.CreatedAt, AppVersion: m.AppVersion, SchemaVersion: m.SchemaVersion,
		Engine: m.Engine, Host: m.Host, InstanceID: m.InstanceID,
	}
	for _, t := range m.Tables {
		in.Counts = append(in.Counts, Count{Table: t.Name, Entity: store.Entity(t.Name), Rows: t.Rows})
		if t.Name == "audit_log" {
			in.Audit.Live = t.Rows
		}
	}
	if err := countSealed(ctx, r, &in.Audit); err != nil {
		return nil, err
	}
	in.Audit.Entries = in.Audit.Sealed + in.Audit.Live
	if len(entities) == 0 {
		entities = InspectEntities
	}
	want := map[string]bool{}
	for _, e := range entities {
		if !slices.Contains(InspectEntities, e) {
			return nil, fmt.Errorf("inspect: unknown entity %q (known: %s)", e, strings.Join(InspectEntities, ", "))
		}
		want[e] = true
	}
	x := &inspector{ctx: ctx, r: r}
	usernames, err := x.usernames()
	if err != nil {
		return nil, err
	}
	owner := func(id string) string {
		if n, ok := usernames[id]; ok {
			return n
		}
		return id
	}
	if want[EntityUsers] {
		if in.Users, err = x.users(); err != nil {
			return nil, err
		}
	}
	var policyNames map[string]string
	if want[EntityPolicies] || want[EntityWorkflows] {
		if in.Policies, err = x.policies(owner); err != nil {
			return nil, err
		}
		policyNames = map[string]string{}
		for _, p := range in.Policies {
			policyNames[p.ID] = p.Name
		}
		if !want[EntityPolicies] {
			in.Policies = nil
		}
	}
	if want[EntityDataSources] {
		if in.DataSources, err = x.dataSources(owner); err != nil {
			return nil, err
		}
	}
	var workflowNames map[string]string
	if want[EntityWorkflows] || want[EntityReports] {
		if in.Workflows, err = x.workflows(owner, policyNames); err != nil {
			return nil, err
		}
		workflowNames = map[string]string{}
		for _, w := range in.Workflows {
			workflowNames[w.ID] = w.Name
		}
		if !want[EntityWorkflows] {
			in.Workflows = nil
		}
	}
	if want[EntityReports] {
		if in.Reports, err = x.reports(owner, workflowNames); err != nil {
			return nil, err
		}
	}
	if want[EntityRemotes] {
		if in.RemoteServers, err = x.remotes(); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// inspector reads tables by column name. A column the table lacks (one
// renamed by a later schema, say) is an error, not an empty value, so
// that a schema change shows in a test instead of as blank output.
type inspector struct {
	ctx context.Context
	r   *Reader
}

// row gives access to the current row's values by column name.
type row struct {
	cols    map[string]int
	vals    []any
	missing map[string]bool // columns asked for that the table lacks
}

func (w row) get(col string) any {
	if i, ok := w.cols[col]; ok {
		return w.vals[i]
	}
	w.missing[col] = true
	return nil
}

// err returns an error naming the columns of table asked for that it
// lacks, or nil.
func (w row) err(table string) error {
	if len(w.missing) == 0 {
		return nil
	}
	cols := slices.Sorted(maps.Keys(w.missing))
	return fmt.Errorf("inspect: %w: table %s has no column %s", ErrMalformed, table, strings.Join(cols, ", "))
}

func (w row) str(col string) string {
	s, _ := w.get(col).(string)
	return s
}

func (w row) int(col string) int64 {
	switch v := w.get(col).(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

func (w row) bool(col string) bool { return w.int(col) != 0 }

func (w row) time(col string) time.Time {
	t, _ := bitnobi.ParseTime(w.str(col))
	return t
}

// each calls fn with every row of table; a table the backup lacks has no
// rows.
func (x *inspector) each(table string, fn func(w row)) error {
	t, ok := x.r.Table(table)
	if !ok {
		return nil
	}
	rows, err := x.r.Rows(x.ctx, table)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer rows.Close()
	w := row{cols: map[string]int{}, missing: map[string]bool{}}
	for i, c := range t.Columns {
		w.cols[c.Name] = i
	}
	for rows.Next() {
		w.vals = rows.Row()
		fn(w)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	return w.err(table)
}

func (x *inspector) usernames() (map[string]string, error) {
	names := map[string]string{}
	err := x.each("users", func(w row) { names[w.str("id")] = w.str("username") })
	return names, err
}

// attributes reads a key=value table (user_attributes, policy_attributes)
// into a map per owner.
func (x *inspector) attributes(table, idCol string) (map[string]map[string]string, error) {
	attrs := map[string]map[string]string{}
	err := x.each(table, func(w row) {
		id := w.str(idCol)
		if attrs[id] == nil {
			attrs[id] = map[string]string{}
		}
		attrs[id][w.str("key")] = w.str("value")
	})
	return attrs, err
}

func (x *inspector) users() ([]InspectedUser, error) {
	attrs, err := x.attributes("user_attributes", "user_id")
	if err != nil {
		return nil, err
	}
	out := []InspectedUser{}
	err = x.each("users", func(w row) {
		// Never password_hash.
		id := w.str("id")
		out = append(out, InspectedUser{
			ID: id, Username: w.str("username"), Email: w.str("email"), Admin: w.bool("is_admin"),
			Attributes: orEmpty(attrs[id]), CreatedAt: w.time("created_at"), UpdatedAt: w.time("updated_at"),
		})
	})
	slices.SortFunc(out, func(a, b InspectedUser) int {
		return cmp.Or(cmp.Compare(a.Username, b.Username), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (x *inspector) policies(owner func(string) string) ([]InspectedPolicy, error) {
	attrs, err := x.attributes("policy_attributes", "policy_id")
	if err != nil {
		return nil, err
	}
	out := []InspectedPolicy{}
	err = x.each("policies", func(w row) {
		id := w.str("id")
		out = append(out, InspectedPolicy{
			ID: id, Name: w.str("name"), Owner: owner(w.str("owner_id")), Description: w.str("description"),
			Global: w.bool("global"), Attributes: orEmpty(attrs[id]),
			CreatedAt: w.time("created_at"), UpdatedAt: w.time("updated_at"),
		})
	})
	slices.SortFunc(out, func(a, b InspectedPolicy) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, err
}

func (x *inspector) dataSources(owner func(string) string) ([]InspectedDataSource, error) {
	out := []InspectedDataSource{}
	err := x.each("datasources", func(w row) {
		// Never secret_id: the password is a secret.
		out = append(out, InspectedDataSource{
			ID: w.str("id"), Name: w.str("name"), Owner: owner(w.str("owner_id")), Kind: w.str("kind"),
			Format: w.str("format"), Filename: w.str("filename"), Size: w.int("size"),
			SQLDriver: w.str("sql_driver"), SQLHost: w.str("sql_host"), SQLPort: w.int("sql_port"),
			SQLDB: w.str("sql_database"), SQLUser: w.str("sql_user"),
			CreatedAt: w.time("created_at"), UpdatedAt: w.time("updated_at"),
		})
	})
	slices.SortFunc(out, func(a, b InspectedDataSource) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (x *inspector) workflows(owner func(string) string, policyNames map[string]string) ([]InspectedWorkflow, error) {
	attached := map[string][]string{}
	err := x.each("workflow_policies", func(w row) {
		id := w.str("policy_id")
		name, ok := policyNames[id]
		if !ok {
			name = id
		}
		attached[w.str("workflow_id")] = append(attached[w.str("workflow_id")], name)
	})
	if err != nil {
		return nil, err
	}
	type runs struct {
		n      int64
		status string
		at     time.Time
	}
	byWorkflow := map[string]*runs{}
	err = x.each("workflow_runs", func(w row) {
		id := w.str("workflow_id")
		r := byWorkflow[id]
		if r == nil {
			r = &runs{}
			byWorkflow[id] = r
		}
		r.n++
		if at := w.time("started_at"); r.status == "" || !at.Before(r.at) {
			r.status, r.at = w.str("status"), at
		}
	})
	if err != nil {
		return nil, err
	}
	out := []InspectedWorkflow{}
	err = x.each("workflows", func(w row) {
		id := w.str("id")
		wf := InspectedWorkflow{
			ID: id, Name: w.str("name"), Owner: owner(w.str("owner_id")), Description: w.str("description"),
			Policies: attached[id], CreatedAt: w.time("created_at"), UpdatedAt: w.time("updated_at"),
		}
		if wf.Policies == nil {
			wf.Policies = []string{}
		}
		slices.Sort(wf.Policies)
		if r := byWorkflow[id]; r != nil {
			wf.Runs, wf.LastRun, wf.LastRunAt = r.n, r.status, r.at
		}
		out = append(out, wf)
	})
	slices.SortFunc(out, func(a, b InspectedWorkflow) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, err
}

func (x *inspector) reports(owner func(string) string, workflowNames map[string]string) ([]InspectedReport, error) {
	out := []InspectedReport{}
	err := x.each("reports", func(w row) {
		wf := w.str("workflow_id")
		if name, ok := workflowNames[wf]; ok {
			wf = name
		}
		out = append(out, InspectedReport{
			ID: w.str("id"), Name: w.str("name"), Owner: owner(w.str("owner_id")), Workflow: wf,
			CreatedAt: w.time("created_at"), UpdatedAt: w.time("updated_at"),
		})
	})
	slices.SortFunc(out, func(a, b InspectedReport) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, err
}

func (x *inspector) remotes() ([]InspectedRemote, error) {
	out := []InspectedRemote{}
	err := x.each("remote_servers", func(w row) {
		// Never secret_id: the password is a secret.
		out = append(out, InspectedRemote{
			ID: w.str("id"), Name: w.str("name"), URL: w.str("url"), ServiceID: w.str("service_id"),
			Enabled: w.bool("enabled"), CreatedAt: w.time("created_at"), UpdatedAt: w.time("updated_at"),
		})
	})
	slices.SortFunc(out, func(a, b InspectedRemote) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, err
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// countSealed adds the sealed segments of r's audit_segments table, if it
// has one, to c.
func countSealed(ctx context.Context, r *Reader, c *AuditCount) error {
	if _, ok := r.Table("audit_segments"); !ok {
		return nil
	}
	rows, err := r.Rows(ctx, "audit_segments")
	if err != nil {
		return err
	}
	defer rows.Close()
	col := slices.IndexFunc(rows.Table().Columns, func(c format.Column) bool { return c.Name == "entries" })
	if col < 0 {
		return fmt.Errorf("inspect: %w: audit_segments has no column entries", ErrMalformed)
	}
	for rows.Next() {
		n, ok := rows.Row()[col].(int64)
		if !ok {
			return fmt.Errorf("inspect: %w: audit_segments.entries holds %T", ErrMalformed, rows.Row()[col])
		}
		c.Segments++
		c.Sealed += n
	}
	return rows.Err()
}
