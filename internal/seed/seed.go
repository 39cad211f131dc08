// Package seed fills a Bitnobi data directory with realistic state for
// benchmarks and experiments, deterministically from a seed, through the
// same store services the server uses (`bitnobi dev seed`).
//
// What it writes, for a [Size]: users with attributes (the first is the
// administrator, "admin"), policies (some global), uploaded CSV data
// sources with log-normal sizes whose content compresses 3-5x like real
// exports, SQL data sources with sealed passwords, workflows with element
// graphs (importer -> select/alter/group/join -> result) and attached
// policies, a few runs with their result blobs, reports, remote servers
// and e-mail settings with secrets, and an audit log of a year of use.
// [Seeder.Mutate] then changes about 1% of that state the way a day of
// use does.
//
// [FillKnown] writes instead a small, hand-written state that tests (via
// backup/backuptest) look for after a backup and restore.
//
// Everything goes through the services of package store with an actor in
// the context, as an HTTP request would, except the bulk of the audit
// history. Its closed part, every whole segment that
// [store.DB.SealAudit] would seal, is written directly as sealed
// segments with the seal's own code ([store.DB.ImportSealedSegment]), so
// that the state is the one a server has after sealing without writing
// and deleting millions of rows; the rest is appended with
// [store.Tx.AppendAuditBatch] in transactions of [AuditBatch] entries.
// Both chain entries with [bitnobi.AuditEntry.ComputeHash], as
// [store.Tx.AppendAudit], which every service's audit entry goes
// through, does, so the hash chain is the real one.
//
// Determinism: the same seed and size give the same logical content: the
// same users, names, attributes, file contents (so the same blob IDs),
// graphs, audit actions and times. Record IDs are not the same: they come
// from [bitnobi.NewID], which is random by design, and so do the hashes of
// the audit chain, which cover IDs, and sealed secrets (random nonces).
// Times come from a simulated clock installed as the database's clock,
// starting on [DefaultStart].
//
// Passwords: every seeded user has the password [Password], hashed with
// [FastPassword] (argon2id with 64 KiB and one pass) rather than the
// server's default parameters, so that hundreds of sign-ups take
// milliseconds instead of seconds. Hashes carry their parameters, so the
// server checks them as usual; they are just cheap to guess, which is
// fine for a benchmark data set and wrong for anything else.
package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store"
)

// Password is the password of every seeded user.
const Password = "bitnobi-seed-password"

// AdminUser is the username of the seeded administrator.
const AdminUser = "admin"

// FastPassword are the argon2id parameters of seeded users' password
// hashes: the smallest the store accepts. See the package documentation.
var FastPassword = store.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// DefaultStart is when the simulated history begins.
var DefaultStart = time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)

// AuditBatch is how many audit entries one transaction appends.
const AuditBatch = 5000

// smallRun is the largest input, in bytes, of a workflow that is run: runs
// keep the seed quick and their results small.
const smallRun = 4 << 20

// Size says how much state to make.
type Size struct {
	Name       string
	Users      int
	Policies   int
	SQLSources int
	Workflows  int
	Runs       int
	Reports    int
	Remotes    int
	// UploadBytes is the total size of the uploaded files, drawn with
	// log-normal sizes between MinUpload and MaxUpload.
	UploadBytes int64
	MinUpload   int64
	MaxUpload   int64
	// MedianUpload is the median of the log-normal distribution.
	MedianUpload int64
	// Audit is the number of audit entries at the end, all included.
	Audit int
	// History is how many years of use the audit log covers (0 counts as
	// one): the sizes cover one, and [Size.WithHistory] makes more.
	History int
}

// WithHistory returns s with n times its audit history: n times the audit
// entries, spread over n years of use instead of one, and everything else
// (users, uploads and so blobs, workflows, ...) unchanged. It models an
// installation that has kept n years of audit log (bench/run.sh HISTORY=n).
// n below 1 counts as 1.
func (s Size) WithHistory(n int) Size {
	n = max(n, 1)
	s.Audit *= n
	s.History = max(s.History, 1) * n
	return s
}

// auditSpan is how long the bulk of the audit history spans: a year of
// use after the first weeks of setting up, and whole years after that.
func (s Size) auditSpan() time.Duration {
	const day = 24 * time.Hour
	return 330*day + time.Duration(max(s.History, 1)-1)*365*day
}

// Sizes are the sizes `bitnobi dev seed --size` knows. The data
// directory's size is about the upload bytes plus 490 bytes per audit
// entry (row and indexes) plus a little: S about 100 MB, M about 2 GB, L
// about 10 GB.
var Sizes = map[string]Size{
	"S": {Name: "S", Users: 40, Policies: 30, SQLSources: 5, Workflows: 40, Runs: 8, Reports: 20, Remotes: 3,
		UploadBytes: 50 << 20, MinUpload: 10 << 10, MaxUpload: 16 << 20, MedianUpload: 256 << 10, Audit: 100_000},
	"M": {Name: "M", Users: 400, Policies: 250, SQLSources: 30, Workflows: 400, Runs: 30, Reports: 150, Remotes: 10,
		UploadBytes: 1 << 30, MinUpload: 10 << 10, MaxUpload: 300 << 20, MedianUpload: 512 << 10, Audit: 2_000_000},
	"L": {Name: "L", Users: 1500, Policies: 1000, SQLSources: 100, Workflows: 1500, Runs: 100, Reports: 600, Remotes: 20,
		UploadBytes: 5 << 30, MinUpload: 10 << 10, MaxUpload: 400 << 20, MedianUpload: 1 << 20, Audit: 10_000_000},
}

// Seeder writes seeded state into an open database. DB must have its blob
// store and master key set and be migrated; the Seeder replaces DB.Now
// with its simulated clock.
type Seeder struct {
	DB   *store.DB
	Size Size
	Seed uint64
	// Log receives progress lines (nil: none).
	Log io.Writer
	// Start is when the simulated history begins (zero: DefaultStart).
	Start time.Time

	clock    *clock
	users    *store.UserService
	policies *store.PolicyService
	sources  *store.DataSourceService
	flows    *store.WorkflowService
	reports  *store.ReportService
	remotes  *store.RemoteServerService
	settings *store.SettingsService
	began    time.Time
	lastLog  time.Time
	stats    *Stats
}

// Stats tells what a seed or a mutation did.
type Stats struct {
	Users, Policies, FileSources, SQLSources, Workflows, Runs, Reports, Remotes int
	UploadBytes                                                                 int64
	AuditAdded                                                                  int64
	Edited, Deleted                                                             int
	Phases                                                                      []Phase
	Duration                                                                    time.Duration
}

// Phase is how long one step took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Summary returns a multi-line human summary of s.
func (s *Stats) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "users %d, policies %d, file data sources %d (%.1f MiB), SQL data sources %d, workflows %d, runs %d, reports %d, remote servers %d\n",
		s.Users, s.Policies, s.FileSources, float64(s.UploadBytes)/(1<<20), s.SQLSources, s.Workflows, s.Runs, s.Reports, s.Remotes)
	if s.Edited+s.Deleted > 0 {
		fmt.Fprintf(&b, "edited %d, deleted %d\n", s.Edited, s.Deleted)
	}
	fmt.Fprintf(&b, "audit entries added %d\n", s.AuditAdded)
	for _, p := range s.Phases {
		fmt.Fprintf(&b, "  %-12s %s\n", p.Name, p.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "total %s\n", s.Duration.Round(time.Millisecond))
	return b.String()
}

// Seeded state kept in memory while seeding.
type (
	user struct {
		u  *bitnobi.User
		ip string
	}
	fileSource struct {
		ds    *bitnobi.DataSource
		kind  *csvKind
		owner *user
	}
	flow struct {
		w     *bitnobi.Workflow
		owner *user
		tmpl  string
		cols  []string
		input int64 // bytes of input files
	}
	world struct {
		admin    *user
		users    []*user
		byID     map[string]*user
		policies []*bitnobi.Policy
		files    []*fileSource
		sqls     []*bitnobi.DataSource
		flows    []*flow
		reports  []*bitnobi.Report
		remotes  []*bitnobi.RemoteServer
	}
)

func (s *Seeder) init() {
	start := s.Start
	if start.IsZero() {
		start = DefaultStart
	}
	s.clock = newClock(start, s.Seed)
	s.DB.Now = s.clock.Now
	s.users = &store.UserService{DB: s.DB, Password: FastPassword}
	s.policies = &store.PolicyService{DB: s.DB}
	s.sources = &store.DataSourceService{DB: s.DB}
	s.flows = &store.WorkflowService{DB: s.DB}
	s.reports = &store.ReportService{DB: s.DB}
	s.remotes = &store.RemoteServerService{DB: s.DB}
	s.settings = &store.SettingsService{DB: s.DB}
	s.began = time.Now()
	s.stats = &Stats{}
}

func (s *Seeder) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(s.Seed, stream))
}

func (s *Seeder) logf(format string, args ...any) {
	if s.Log == nil {
		return
	}
	fmt.Fprintf(s.Log, "seed %6.1fs: %s\n", time.Since(s.began).Seconds(), fmt.Sprintf(format, args...))
}

// phase runs fn and records how long it took.
func (s *Seeder) phase(name string, fn func() error) error {
	st := time.Now()
	s.logf("%s...", name)
	err := fn()
	if err != nil {
		return fmt.Errorf("seed %s: %w", name, err)
	}
	s.stats.Phases = append(s.stats.Phases, Phase{Name: name, Duration: time.Since(st)})
	return nil
}

// as returns ctx acting as u.
func as(ctx context.Context, u *user) context.Context {
	return bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{
		UserID: u.u.ID, Username: u.u.Username, IsAdmin: u.u.IsAdmin, Attributes: u.u.Attributes, RemoteAddr: u.ip,
	})
}

// ErrSeeded is returned by [Seeder.Fill] when the database already has
// users.
var ErrSeeded = errors.New("the database already holds users")

// Fill fills an empty database. It refuses one that has users already.
func (s *Seeder) Fill(ctx context.Context) (*Stats, error) {
	s.init()
	var n int64
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return nil, fmt.Errorf("seed: count users: %w", err)
	}
	if n > 0 {
		return nil, ErrSeeded
	}
	if _, err := s.DB.EnsureInstance(ctx); err != nil {
		return nil, err
	}
	w := &world{byID: map[string]*user{}}
	size := s.Size
	steps := []struct {
		name string
		fn   func() error
	}{
		{"users", func() error { return s.seedUsers(ctx, w, size.Users) }},
		{"settings", func() error { return s.seedSettings(ctx, w, size.Remotes) }},
		{"policies", func() error { return s.seedPolicies(ctx, w, size.Policies, s.rng(2)) }},
		{"uploads", func() error {
			return s.seedUploads(ctx, w, s.rng(3), uploadSizes(s.rng(4), size.UploadBytes, size.MinUpload, size.MaxUpload, size.MedianUpload))
		}},
		{"sql sources", func() error { return s.seedSQLSources(ctx, w, size.SQLSources, s.rng(5)) }},
		{"workflows", func() error { return s.seedWorkflows(ctx, w, size.Workflows, s.rng(6), w.files) }},
		{"runs", func() error { return s.seedRuns(ctx, w, size.Runs, s.rng(7)) }},
		{"reports", func() error { return s.seedReports(ctx, w, size.Reports, s.rng(8)) }},
		{"audit", func() error {
			have, _, err := s.auditHead(ctx)
			if err != nil {
				return err
			}
			// A year of use after the first weeks of setting up.
			return s.appendAudit(ctx, w, int64(size.Audit)-have, s.clock.peek().Add(8*time.Hour), size.auditSpan(), s.rng(9), true)
		}},
		{"seal", func() error { return s.sealAudit(ctx) }},
	}
	for _, st := range steps {
		if err := s.phase(st.name, st.fn); err != nil {
			return s.stats, err
		}
	}
	s.stats.Duration = time.Since(s.began)
	return s.stats, nil
}

// sealAudit seals the audit log's full segments, as a long-running
// server would have (store.DB.SealAudit), so that the state seeded looks
// like a server's. A Fill writes its closed history as sealed segments
// already, so this seals something only when that history is too short
// to import a segment; a Mutate appends the day's entries as rows.
func (s *Seeder) sealAudit(ctx context.Context) error {
	res, err := s.DB.SealAudit(ctx)
	if err != nil {
		return err
	}
	s.logf("sealed %d audit segments (%d entries, %d bytes) in %s", res.Segments, res.Entries, res.Bytes, res.Duration.Round(time.Millisecond))
	// A long-running server's database holds no free pages: it was
	// created with incremental auto-vacuum and gives back what each seal
	// frees. A database seeded before that, or whose rows churned while
	// seeding, may; rebuild it so the data directory looks the same.
	start := time.Now()
	if err := s.DB.Compact(ctx); err != nil {
		return err
	}
	s.logf("compacted the database in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// auditHead returns the number of audit entries and the time of the last,
// sealed or not.
func (s *Seeder) auditHead(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var at string
	// Sealed entries count too: the log is its segments and audit_log.
	err := s.DB.Read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM audit_log) + (SELECT COALESCE(SUM(entries), 0) FROM audit_segments),
		COALESCE((SELECT MAX(at) FROM audit_log), (SELECT MAX(last_at) FROM audit_segments), '')`).Scan(&n, &at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read audit log head: %w", err)
	}
	if at == "" {
		return n, time.Time{}, nil
	}
	t, err := bitnobi.ParseTime(at)
	return n, t, err
}

// seedUsers signs up the administrator and n-1 users, and has the
// administrator give each attributes. Sign-ups are days apart at first.
func (s *Seeder) seedUsers(ctx context.Context, w *world, n int) error {
	r := s.rng(1)
	s.clock.setStep(20 * time.Minute)
	taken := map[string]bool{}
	for i := 0; i < n; i++ {
		name := AdminUser
		if i > 0 {
			for {
				name = strings.ToLower(firstNames[r.IntN(len(firstNames))] + "." + lastNames[r.IntN(len(lastNames))])
				if !taken[name] {
					break
				}
				name += fmt.Sprint(2 + r.IntN(98))
				if !taken[name] {
					break
				}
			}
		}
		taken[name] = true
		ip := fmt.Sprintf("10.%d.%d.%d", 1+r.IntN(20), r.IntN(256), 1+r.IntN(254))
		anon := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{RemoteAddr: ip})
		u, err := s.users.SignUp(anon, name, name+"@"+strings.ToLower(strings.ReplaceAll(organizations[r.IntN(4)], " ", ""))+".example.org", Password)
		if err != nil {
			return fmt.Errorf("sign up %s: %w", name, err)
		}
		nu := &user{u: u, ip: ip}
		if i == 0 {
			w.admin = nu
		}
		attrs := map[string]string{
			"organization": organizations[r.IntN(len(organizations))],
			"department":   departments[r.IntN(len(departments))],
			"country":      countries[r.IntN(len(countries))],
		}
		if r.IntN(3) == 0 {
			attrs["role"] = []string{"analyst", "researcher", "engineer", "manager", "clinician"}[r.IntN(5)]
		}
		if r.IntN(5) == 0 {
			attrs["clearance"] = []string{"public", "internal", "confidential"}[r.IntN(3)]
		}
		if u, err = s.users.UpdateUser(as(ctx, w.admin), u.ID, bitnobi.UserUpdate{Attributes: &attrs}); err != nil {
			return fmt.Errorf("set attributes of %s: %w", name, err)
		}
		nu.u = u
		w.users = append(w.users, nu)
		w.byID[u.ID] = nu
	}
	s.stats.Users += n
	return nil
}

// seedSettings saves the e-mail settings and n remote servers, all with
// passwords.
func (s *Seeder) seedSettings(ctx context.Context, w *world, n int) error {
	r := s.rng(10)
	actx := as(ctx, w.admin)
	pw := randomSecret(r)
	if _, err := s.settings.UpdateEmailSettings(actx, bitnobi.EmailSettingsUpdate{
		From: "bitnobi@bitnobi.example.org", Host: "smtp.example.org", Port: 587, User: "bitnobi", Password: &pw, Enabled: true,
	}); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		org := organizations[(i+1)%len(organizations)]
		host := strings.ToLower(strings.ReplaceAll(org, " ", "-")) + ".example.net"
		rs, err := s.remotes.CreateRemoteServer(actx, bitnobi.RemoteServerCreate{
			Name: org, URL: "https://bitnobi." + host, ServiceID: "svc-" + strings.ToLower(strings.ReplaceAll(org, " ", "")), Password: randomSecret(r),
		})
		if err != nil {
			return err
		}
		w.remotes = append(w.remotes, rs)
	}
	s.stats.Remotes += n
	return nil
}

func randomSecret(r *rand.Rand) string {
	const chars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 24)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// seedPolicies makes n policies: about one in eight global (by the
// administrator), the rest private to a random user.
func (s *Seeder) seedPolicies(ctx context.Context, w *world, n int, r *rand.Rand) error {
	s.clock.setStep(30 * time.Minute)
	for i := 0; i < n; i++ {
		p, owner := newPolicy(r, w, i)
		if err := s.policies.CreatePolicy(as(ctx, owner), p); err != nil {
			return fmt.Errorf("create policy %q: %w", p.Name, err)
		}
		w.policies = append(w.policies, p)
	}
	s.stats.Policies += n
	return nil
}

func newPolicy(r *rand.Rand, w *world, i int) (*bitnobi.Policy, *user) {
	owner := w.users[r.IntN(len(w.users))]
	global := r.IntN(8) == 0
	if global {
		owner = w.admin
	}
	attrs := map[string]string{"organization": organizations[r.IntN(len(organizations))]}
	name := attrs["organization"]
	if r.IntN(2) == 0 {
		attrs["department"] = departments[r.IntN(len(departments))]
		name += " " + attrs["department"]
	}
	if r.IntN(4) == 0 {
		attrs["country"] = countries[r.IntN(len(countries))]
		name += " in " + attrs["country"]
	}
	p := &bitnobi.Policy{
		Name:        fmt.Sprintf("%s #%d", name, i+1),
		Description: "Staff of " + name + " may use the result.",
		Attributes:  attrs,
		Global:      global,
	}
	return p, owner
}

// uploadSizes draws file sizes from a log-normal distribution (median
// median, sigma 1.6) clamped to [min, max] until they add up to total;
// the last is cut to fit.
func uploadSizes(r *rand.Rand, total, min, max, median int64) []int64 {
	var out []int64
	var sum int64
	for sum < total {
		v := int64(math.Exp(math.Log(float64(median)) + 1.6*r.NormFloat64()))
		v = clamp(v, min, max)
		if sum+v > total {
			v = clamp(total-sum, min, max)
		}
		out = append(out, v)
		sum += v
	}
	return out
}

func clamp(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// seedUploads uploads one CSV file per size through the data-source
// service, generating the content while it streams into the blob store.
func (s *Seeder) seedUploads(ctx context.Context, w *world, r *rand.Rand, sizes []int64) error {
	s.clock.setStep(2 * time.Hour)
	var done int64
	for i, size := range sizes {
		f, err := s.upload(ctx, w, r, size, w.users[r.IntN(len(w.users))])
		if err != nil {
			return err
		}
		done += f.ds.Size
		if i == len(sizes)-1 || time.Since(s.lastLog) > 2*time.Second {
			s.lastLog = time.Now()
			s.logf("uploads %d/%d, %.1f MiB", i+1, len(sizes), float64(done)/(1<<20))
		}
	}
	return nil
}

func (s *Seeder) upload(ctx context.Context, w *world, r *rand.Rand, size int64, owner *user) (*fileSource, error) {
	kind := csvKinds[r.IntN(len(csvKinds))]
	start := DefaultStart.AddDate(-3, 0, r.IntN(3*365))
	gen := newCSVGen(kind, s.Seed, r.Uint64(), size, start)
	region := regions[r.IntN(len(regions))]
	name := fmt.Sprintf("%s %s %s", kind.name, start.Format("2006-01"), region)
	ds := &bitnobi.DataSource{
		Name:        name,
		Description: fmt.Sprintf("Export of %s records from %s, %s region.", kind.name, start.Format("January 2006"), region),
		Format:      bitnobi.FormatCSV,
		Filename:    fmt.Sprintf("%s_%s_%s.csv", kind.name, start.Format("20060102"), region),
	}
	// Generate on one goroutine while the blob store hashes and writes
	// on another.
	pr, pw := io.Pipe()
	go func() {
		_, err := gen.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	err := s.sources.CreateFileDataSource(as(ctx, owner), ds, pr, 0)
	pr.CloseWithError(errors.New("upload ended"))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", ds.Name, err)
	}
	f := &fileSource{ds: ds, kind: kind, owner: owner}
	w.files = append(w.files, f)
	s.stats.FileSources++
	s.stats.UploadBytes += ds.Size
	return f, nil
}

// seedSQLSources makes n SQL data sources, each with a sealed password.
func (s *Seeder) seedSQLSources(ctx context.Context, w *world, n int, r *rand.Rand) error {
	s.clock.setStep(3 * time.Hour)
	drivers := bitnobi.SQLDrivers
	for i := 0; i < n; i++ {
		owner := w.users[r.IntN(len(w.users))]
		drv := drivers[r.IntN(len(drivers))]
		port := map[string]int{"postgres": 5432, "mysql": 3306, "sqlserver": 1433}[drv]
		table := []string{"orders", "patients", "ledger", "responses", "inventory"}[r.IntN(5)]
		ds := &bitnobi.DataSource{
			Name:     fmt.Sprintf("%s warehouse %d", table, i+1),
			Driver:   drv,
			Host:     fmt.Sprintf("db%d.%s.internal", 1+r.IntN(9), strings.ToLower(strings.ReplaceAll(owner.u.Attributes["organization"], " ", ""))),
			Port:     port,
			Database: "analytics",
			User:     "reader_" + table,
			Query:    fmt.Sprintf("SELECT * FROM %s WHERE updated_at > now() - interval '%d days'", table, 1+r.IntN(365)),
		}
		if err := s.sources.CreateSQLDataSource(as(ctx, owner), ds, randomSecret(r)); err != nil {
			return fmt.Errorf("create SQL data source: %w", err)
		}
		w.sqls = append(w.sqls, ds)
	}
	s.stats.SQLSources += n
	return nil
}

// seedWorkflows makes n workflows over the given files, each by the
// owner of its first input, with up to three policies attached.
func (s *Seeder) seedWorkflows(ctx context.Context, w *world, n int, r *rand.Rand, files []*fileSource) error {
	s.clock.setStep(90 * time.Minute)
	if len(files) == 0 {
		return nil
	}
	for i := 0; i < n; i++ {
		if _, err := s.newFlow(ctx, w, r, files[r.IntN(len(files))], i); err != nil {
			return err
		}
	}
	return nil
}

func (s *Seeder) newFlow(ctx context.Context, w *world, r *rand.Rand, a *fileSource, i int) (*flow, error) {
	owner := a.owner
	b := a
	for _, f := range w.files { // a second input: the owner's next file of the same kind
		if f.kind == a.kind && f.owner == owner && f != a && r.IntN(2) == 0 {
			b = f
			break
		}
	}
	t := templates[r.IntN(len(templates))]
	g, cols := t.build(r, a.kind, a.ds.ID, b.ds.ID)
	wf := &bitnobi.Workflow{
		Name:        fmt.Sprintf("%s of %s #%d", t.name, a.ds.Name, i+1),
		Description: fmt.Sprintf("The %s of %s, shared with partners under policy.", t.name, a.ds.Name),
		Graph:       g,
		Exportables: cols[:1+r.IntN(len(cols))],
	}
	octx := as(ctx, owner)
	if err := s.flows.CreateWorkflow(octx, wf); err != nil {
		return nil, fmt.Errorf("create workflow %q: %w", wf.Name, err)
	}
	input := a.ds.Size
	if b != a || t.name == "compare" {
		input += b.ds.Size
	}
	fl := &flow{w: wf, owner: owner, tmpl: t.name, cols: cols, input: input}
	// Attach the owner's own policies or global ones.
	var usable []*bitnobi.Policy
	for _, p := range w.policies {
		if p.Global || p.OwnerID == owner.u.ID {
			usable = append(usable, p)
		}
	}
	for k := r.IntN(4); k > 0 && len(usable) > 0; k-- {
		p := usable[r.IntN(len(usable))]
		if err := s.flows.AttachPolicy(octx, wf.ID, p.ID); err != nil {
			return nil, fmt.Errorf("attach policy: %w", err)
		}
	}
	w.flows = append(w.flows, fl)
	s.stats.Workflows++
	return fl, nil
}

// seedRuns runs up to n workflows whose inputs are small.
func (s *Seeder) seedRuns(ctx context.Context, w *world, n int, r *rand.Rand) error {
	s.clock.setStep(time.Hour)
	var small []*flow
	for _, f := range w.flows {
		if f.input <= smallRun {
			small = append(small, f)
		}
	}
	for i := 0; i < n && len(small) > 0; i++ {
		f := small[r.IntN(len(small))]
		run, err := s.flows.StartRun(as(ctx, f.owner), f.w.ID)
		if err != nil {
			return fmt.Errorf("run workflow %q: %w", f.w.Name, err)
		}
		if run.Status != bitnobi.RunSucceeded {
			return fmt.Errorf("run workflow %q: %s: %s", f.w.Name, run.Status, run.Error)
		}
		s.stats.Runs++
	}
	return nil
}

// seedReports makes n reports, each by a workflow's owner over it.
func (s *Seeder) seedReports(ctx context.Context, w *world, n int, r *rand.Rand) error {
	s.clock.setStep(2 * time.Hour)
	for i := 0; i < n && len(w.flows) > 0; i++ {
		f := w.flows[r.IntN(len(w.flows))]
		rep := &bitnobi.Report{
			WorkflowID:  f.w.ID,
			Name:        fmt.Sprintf("Report %d: %s", i+1, f.w.Name),
			Description: "Charts for the quarterly review.",
			Charts:      charts(r, f.tmpl, f.cols),
		}
		if len(rep.Name) > bitnobi.MaxNameLen {
			rep.Name = rep.Name[:bitnobi.MaxNameLen]
		}
		if err := s.reports.CreateReport(as(ctx, f.owner), rep); err != nil {
			return fmt.Errorf("create report: %w", err)
		}
		w.reports = append(w.reports, rep)
		s.stats.Reports++
	}
	return nil
}
