package seed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// ErrNotSeeded is returned by [Seeder.Mutate] on a database without the
// seeded administrator.
var ErrNotSeeded = errors.New("the database was not seeded (no audit log, or no seeded administrator)")

// Mutate changes about 1% of the state the way a day of use does: the
// administrator signs in; a user signs up; a few users' attributes
// change; a few files are uploaded (about 1% of the upload bytes) and
// workflows built over them; about 1% of the workflows and policies are
// edited and a few deleted, with a data source; a few workflows run; a
// report is edited and one made; a remote server's password is rotated;
// and 1% of the audit log's size is appended as the day's activity.
//
// It is deterministic too: its random stream is seeded from the seed and
// the number of audit entries before it, so mutating the same state twice
// in a row makes two different days, and the same state with the same
// seed makes the same day.
func (s *Seeder) Mutate(ctx context.Context) (*Stats, error) {
	s.init()
	count, last, err := s.auditHead(ctx)
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, ErrNotSeeded
	}
	// The next morning.
	day := time.Date(last.Year(), last.Month(), last.Day()+1, 8, 0, 0, 0, time.UTC)
	s.clock.advanceTo(day)
	s.clock.setStep(time.Minute)
	r := s.rng(0x6d75746174650000 ^ uint64(count))

	_, admin, err := s.users.SignIn(bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{RemoteAddr: "10.0.0.2"}), AdminUser, Password)
	if err != nil {
		return nil, fmt.Errorf("%w: sign in as %s: %v", ErrNotSeeded, AdminUser, err)
	}
	w := &world{byID: map[string]*user{}}
	w.admin = &user{u: admin, ip: "10.0.0.2"}
	if err := s.phase("load", func() error { return s.load(ctx, w) }); err != nil {
		return s.stats, err
	}
	size := s.Size
	pct := func(n, least int) int { return max(least, n/100) }

	steps := []struct {
		name string
		fn   func() error
	}{
		{"users", func() error {
			users := len(w.users)
			if err := s.seedUsersMore(ctx, w, 1, r); err != nil {
				return err
			}
			for i := 0; i < pct(users, 2); i++ {
				u := w.users[1+r.IntN(len(w.users)-1)]
				attrs := copyMap(u.u.Attributes)
				attrs["department"] = departments[r.IntN(len(departments))]
				nu, err := s.users.UpdateUser(as(ctx, w.admin), u.u.ID, bitnobi.UserUpdate{Attributes: &attrs})
				if err != nil {
					return err
				}
				u.u = nu
				s.stats.Edited++
			}
			return nil
		}},
		{"uploads", func() error {
			total := size.UploadBytes / 100
			k := 2 + r.IntN(3)
			sizes := uploadSizes(r, total, size.MinUpload, max(total/int64(k), size.MinUpload), total/int64(k))
			before := len(w.files)
			if err := s.seedUploads(ctx, w, r, sizes); err != nil {
				return err
			}
			return s.seedWorkflows(ctx, w, 2, r, w.files[before:])
		}},
		{"edits", func() error { return s.editDay(ctx, w, r, pct) }},
		{"runs", func() error { return s.seedRuns(ctx, w, 2, r) }},
		{"audit", func() error {
			return s.appendAudit(ctx, w, int64(size.Audit/100), s.clock.peek(), 10*time.Hour, r, false)
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

// seedUsersMore signs up n new users with attributes.
func (s *Seeder) seedUsersMore(ctx context.Context, w *world, n int, r *rand.Rand) error {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s.%s%d", strings.ToLower(firstNames[r.IntN(len(firstNames))]), strings.ToLower(lastNames[r.IntN(len(lastNames))]), 100+len(w.users))
		ip := fmt.Sprintf("10.%d.%d.%d", 1+r.IntN(20), r.IntN(256), 1+r.IntN(254))
		u, err := s.users.SignUp(bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{RemoteAddr: ip}), name, name+"@example.org", Password)
		if err != nil {
			return fmt.Errorf("sign up %s: %w", name, err)
		}
		attrs := map[string]string{"organization": organizations[r.IntN(len(organizations))], "department": departments[r.IntN(len(departments))]}
		if u, err = s.users.UpdateUser(as(ctx, w.admin), u.ID, bitnobi.UserUpdate{Attributes: &attrs}); err != nil {
			return err
		}
		nu := &user{u: u, ip: ip}
		w.users = append(w.users, nu)
		w.byID[u.ID] = nu
		s.stats.Users++
	}
	return nil
}

// editDay edits and deletes workflows, policies, a data source, a
// report and a remote server's password.
func (s *Seeder) editDay(ctx context.Context, w *world, r *rand.Rand, pct func(n, least int) int) error {
	actx := as(ctx, w.admin)
	// Workflows: edit 1%, delete 0.5%.
	for i := 0; i < pct(len(w.flows), 2) && len(w.flows) > 0; i++ {
		f := w.flows[r.IntN(len(w.flows))]
		desc := f.w.Description + fmt.Sprintf(" Revised on day %d.", r.IntN(1000))
		g := f.w.Graph
		for k := range g.Elements {
			el := &g.Elements[k]
			if el.Type == bitnobi.ElementSelect {
				var c bitnobi.SelectConfig
				if err := el.DecodeConfig(&c); err == nil && len(c.Where) > 0 && c.Where[0].Op == bitnobi.OpEq {
					c.Where[0].Value = organizations[r.IntN(len(organizations))]
					*el = element(el.ID, el.Type, c)
				}
			}
		}
		nw, err := s.flows.UpdateWorkflow(as(ctx, f.owner), f.w.ID, bitnobi.WorkflowUpdate{Description: &desc, Graph: &g})
		if err != nil {
			return fmt.Errorf("edit workflow: %w", err)
		}
		f.w = nw
		s.stats.Edited++
	}
	for i := 0; i < pct(len(w.flows)/2, 1) && len(w.flows) > 1; i++ {
		k := r.IntN(len(w.flows))
		f := w.flows[k]
		if err := s.flows.DeleteWorkflow(as(ctx, f.owner), f.w.ID); err != nil {
			return fmt.Errorf("delete workflow: %w", err)
		}
		w.flows = append(w.flows[:k], w.flows[k+1:]...)
		s.stats.Deleted++
	}
	// Policies: edit 1%, delete one private policy, make one.
	for i := 0; i < pct(len(w.policies), 2) && len(w.policies) > 0; i++ {
		p := w.policies[r.IntN(len(w.policies))]
		desc := p.Description + " Reviewed."
		attrs := copyMap(p.Attributes)
		attrs["organization"] = organizations[r.IntN(len(organizations))]
		np, err := s.policies.UpdatePolicy(actx, p.ID, bitnobi.PolicyUpdate{Description: &desc, Attributes: &attrs})
		if err != nil {
			return fmt.Errorf("edit policy: %w", err)
		}
		*p = *np
		s.stats.Edited++
	}
	for k, p := range w.policies {
		if !p.Global && r.IntN(4) == 0 {
			if err := s.policies.DeletePolicy(actx, p.ID); err != nil {
				return fmt.Errorf("delete policy: %w", err)
			}
			w.policies = append(w.policies[:k], w.policies[k+1:]...)
			s.stats.Deleted++
			break
		}
	}
	p, owner := newPolicy(r, w, len(w.policies))
	if err := s.policies.CreatePolicy(as(ctx, owner), p); err != nil {
		return err
	}
	w.policies = append(w.policies, p)
	s.stats.Policies++
	// A data source, but not one uploaded today.
	if len(w.files) > 5 {
		k := r.IntN(len(w.files) - 5)
		id := w.files[k].ds.ID
		if err := s.sources.DeleteDataSource(actx, id); err != nil {
			return fmt.Errorf("delete data source: %w", err)
		}
		w.files = append(w.files[:k], w.files[k+1:]...)
		for _, f := range w.flows {
			if slices.Contains(importers(f.w), id) {
				f.input = smallRun + 1 // its runs would fail now
			}
		}
		s.stats.Deleted++
	}
	// Reports: edit one (if its workflow is still there), make one over
	// a workflow made today.
	if len(w.reports) > 0 {
		rep := w.reports[r.IntN(len(w.reports))]
		name := rep.Name + " (v2)"
		if len(name) <= bitnobi.MaxNameLen {
			_, err := s.reports.UpdateReport(actx, rep.ID, bitnobi.ReportUpdate{Name: &name})
			switch {
			case err == nil:
				s.stats.Edited++
			case bitnobi.ErrorCode(err) != bitnobi.ENOTFOUND:
				return fmt.Errorf("edit report: %w", err)
			}
		}
	}
	if f := w.flows[len(w.flows)-1]; f.cols != nil {
		rep := &bitnobi.Report{WorkflowID: f.w.ID, Name: "Daily look at " + f.w.Name, Charts: charts(r, f.tmpl, f.cols)}
		if err := s.reports.CreateReport(as(ctx, f.owner), rep); err != nil {
			return fmt.Errorf("create report: %w", err)
		}
		s.stats.Reports++
	}
	// A remote server's password is rotated.
	if len(w.remotes) > 0 {
		rs := w.remotes[r.IntN(len(w.remotes))]
		pw := fmt.Sprintf("rotated-%d-%d", r.IntN(1_000_000), r.IntN(1_000_000))
		if _, err := s.remotes.UpdateRemoteServer(actx, rs.ID, bitnobi.RemoteServerUpdate{Password: &pw}); err != nil {
			return fmt.Errorf("rotate remote password: %w", err)
		}
		s.stats.Edited++
	}
	return nil
}

// load reads the seeded state back through the services, as the
// administrator.
func (s *Seeder) load(ctx context.Context, w *world) error {
	actx := as(ctx, w.admin)
	users, err := s.users.FindUsers(actx)
	if err != nil {
		return err
	}
	for i, u := range users {
		nu := &user{u: u, ip: fmt.Sprintf("10.%d.%d.%d", 1+i%20, (i/20)%256, 1+i%254)}
		if u.ID == w.admin.u.ID {
			nu = w.admin
		}
		w.users = append(w.users, nu)
		w.byID[u.ID] = nu
	}
	if w.policies, err = s.policies.FindPolicies(actx); err != nil {
		return err
	}
	sources, err := s.sources.FindDataSources(actx)
	if err != nil {
		return err
	}
	size := map[string]int64{}
	for _, ds := range sources {
		if ds.Kind != bitnobi.DataSourceFile {
			w.sqls = append(w.sqls, ds)
			continue
		}
		size[ds.ID] = ds.Size
		var kind *csvKind
		for _, k := range csvKinds {
			if strings.HasPrefix(ds.Filename, k.name+"_") {
				kind = k
			}
		}
		if kind == nil || w.byID[ds.OwnerID] == nil {
			continue
		}
		w.files = append(w.files, &fileSource{ds: ds, kind: kind, owner: w.byID[ds.OwnerID]})
	}
	flows, err := s.flows.FindWorkflows(actx)
	if err != nil {
		return err
	}
	for _, wf := range flows {
		owner := w.byID[wf.OwnerID]
		if owner == nil {
			continue
		}
		f := &flow{w: wf, owner: owner}
		for _, id := range importers(wf) {
			if n, ok := size[id]; ok {
				f.input += n
			} else {
				f.input = smallRun + 1 // its input was deleted: do not run it
			}
		}
		w.flows = append(w.flows, f)
	}
	if w.reports, err = s.reports.FindReports(actx); err != nil {
		return err
	}
	if w.remotes, err = s.remotes.FindRemoteServers(actx); err != nil {
		return err
	}
	s.logf("loaded %d users, %d policies, %d files, %d workflows, %d reports", len(w.users), len(w.policies), len(w.files), len(w.flows), len(w.reports))
	return nil
}

// importers returns the data sources wf's importers read.
func importers(wf *bitnobi.Workflow) []string {
	var ids []string
	for _, el := range wf.Graph.Elements {
		if el.Type == bitnobi.ElementImporter {
			var c bitnobi.ImporterConfig
			if el.DecodeConfig(&c) == nil {
				ids = append(ids, c.DataSourceID)
			}
		}
	}
	return ids
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
