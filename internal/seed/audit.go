package seed

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store"
)

// appendAudit appends n entries of everyday use, spread evenly over span
// from start: sign-ins and sign-outs, data-source and result accesses
// (some federated, from a remote server), workflow runs, and edits. The
// entries are made on one goroutine and appended on another, AuditBatch
// to a transaction, with [store.Tx.AppendAuditBatch], which chains them as
// [store.Tx.AppendAudit] would, without parsing two statements per entry.
func (s *Seeder) appendAudit(ctx context.Context, w *world, n int64, start time.Time, span time.Duration, r *rand.Rand) error {
	if n <= 0 {
		return nil
	}
	g := &auditGen{r: r, w: w, t: start, step: span / time.Duration(n)}
	s.clock.setStep(time.Second) // each batch's transaction reads it once
	batches := make(chan []*bitnobi.AuditEntry, 2)
	genCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(batches)
		for left := n; left > 0; {
			k := min(left, AuditBatch)
			es := make([]bitnobi.AuditEntry, k)
			b := make([]*bitnobi.AuditEntry, k)
			for i := range es {
				g.next(&es[i])
				b[i] = &es[i]
			}
			left -= k
			select {
			case batches <- b:
			case <-genCtx.Done():
				return
			}
		}
	}()
	var done int64
	var last time.Time
	for b := range batches {
		err := s.DB.WriteTx(ctx, func(tx *store.Tx) error {
			return tx.AppendAuditBatch(ctx, b)
		})
		if err != nil {
			return err
		}
		done += int64(len(b))
		last = b[len(b)-1].At
		s.stats.AuditAdded += int64(len(b))
		if done == n || time.Since(s.lastLog) > 2*time.Second {
			s.lastLog = time.Now()
			s.logf("audit %d/%d entries", done, n)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.clock.advanceTo(last)
	return nil
}

// auditGen makes audit entries like those the services write.
type auditGen struct {
	r    *rand.Rand
	w    *world
	t    time.Time
	step time.Duration
	buf  []byte
	// open remembers who is signed in, so sign-outs follow sign-ins.
	open []*user
}

func (g *auditGen) next(e *bitnobi.AuditEntry) {
	r, w := g.r, g.w
	g.t = g.t.Add(g.step/2 + time.Duration(r.Int64N(int64(g.step)+1)))
	u := w.users[r.IntN(len(w.users))]
	*e = bitnobi.AuditEntry{At: g.t, ActorID: u.u.ID, ActorName: u.u.Username, RemoteAddr: u.ip}
	switch p := r.IntN(100); {
	case p < 20:
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionSignIn, "user", u.u.ID
		g.open = append(g.open, u)
		if len(g.open) > 64 {
			g.open = g.open[1:]
		}
	case p < 34:
		if len(g.open) > 0 {
			k := r.IntN(len(g.open))
			u = g.open[k]
			g.open = append(g.open[:k], g.open[k+1:]...)
		}
		*e = bitnobi.AuditEntry{At: g.t, ActorID: u.u.ID, ActorName: u.u.Username, RemoteAddr: u.ip,
			Action: bitnobi.ActionSignOut, TargetType: "user", TargetID: u.u.ID}
	case p < 64 && len(w.files) > 0:
		f := w.files[r.IntN(len(w.files))]
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionDataSourceAccess, "datasource", f.ds.ID
		if r.IntN(8) == 0 && len(w.remotes) > 0 {
			// Federated: a user of a partner server, through its service account.
			rs := w.remotes[r.IntN(len(w.remotes))]
			e.ActorID, e.ActorName = "", rs.ServiceID
			e.RemoteAddr = "203.0.113." + strconv.Itoa(1+r.IntN(254))
			e.RemoteUser = firstNames[r.IntN(len(firstNames))] + "@" + rs.Name
		} else {
			e.ActorID, e.ActorName = f.owner.u.ID, f.owner.u.Username
			e.RemoteAddr = f.owner.ip
		}
		e.Detail = g.detail("name", f.ds.Name, "owner_id", f.ds.OwnerID)
	case p < 82 && len(w.flows) > 0:
		f := w.flows[r.IntN(len(w.flows))]
		e.ActorID, e.ActorName, e.RemoteAddr = f.owner.u.ID, f.owner.u.Username, f.owner.ip
		e.TargetType, e.TargetID = "workflow", f.w.ID
		if p < 73 {
			e.Action = bitnobi.ActionWorkflowStart
			e.Detail = g.detail("name", f.w.Name, "run_id", g.hexID())
		} else {
			e.Action = bitnobi.ActionWorkflowEnd
			e.Detail = g.detail("name", f.w.Name, "rows", strconv.Itoa(r.IntN(5000)), "run_id", g.hexID(), "status", bitnobi.RunSucceeded)
		}
	case p < 88 && len(w.flows) > 0:
		// Result reads are audited as data-source accesses too.
		f := w.flows[r.IntN(len(w.flows))]
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionDataSourceAccess, "workflow_run", g.hexID()
		e.Detail = g.detail("workflow_id", f.w.ID, "name", f.w.Name)
	case p < 93 && len(w.flows) > 0:
		f := w.flows[r.IntN(len(w.flows))]
		e.ActorID, e.ActorName, e.RemoteAddr = f.owner.u.ID, f.owner.u.Username, f.owner.ip
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionWorkflowUpdate, "workflow", f.w.ID
		e.Detail = g.detail("fields", "description", "name", f.w.Name)
	case p < 96 && len(w.reports) > 0:
		rep := w.reports[r.IntN(len(w.reports))]
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionReportUpdate, "report", rep.ID
		e.ActorID = rep.OwnerID
		if o := w.byID[rep.OwnerID]; o != nil {
			e.ActorName, e.RemoteAddr = o.u.Username, o.ip
		}
		e.Detail = g.detail("name", rep.Name)
	case p < 99 && len(w.policies) > 0:
		pol := w.policies[r.IntN(len(w.policies))]
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionPolicyUpdate, "policy", pol.ID
		e.ActorID = pol.OwnerID
		if o := w.byID[pol.OwnerID]; o != nil {
			e.ActorName, e.RemoteAddr = o.u.Username, o.ip
		}
		e.Detail = g.detail("name", pol.Name)
	default:
		a := w.admin
		e.ActorID, e.ActorName, e.RemoteAddr = a.u.ID, a.u.Username, a.ip
		e.Action, e.TargetType, e.TargetID = bitnobi.ActionUserUpdate, "user", u.u.ID
		e.Detail = g.detail("fields", "attributes", "username", u.u.Username)
	}
}

// detail returns a JSON object of the given key/value pairs, in order
// (callers give keys sorted, as encoding/json would write a map).
func (g *auditGen) detail(kv ...string) string {
	b := append(g.buf[:0], '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, kv[i])
		b = append(b, ':')
		if kv[i] == "rows" {
			b = append(b, kv[i+1]...)
		} else {
			b = strconv.AppendQuote(b, kv[i+1])
		}
	}
	b = append(b, '}')
	g.buf = b
	return string(b)
}

// hexID returns an ID-shaped string from the generator's random stream.
func (g *auditGen) hexID() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b[:])
}
