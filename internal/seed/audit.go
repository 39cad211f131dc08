package seed

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store"
)

// appendAudit appends n entries of everyday use, spread evenly over span
// from start: sign-ins and sign-outs, data-source and result accesses
// (some federated, from a remote server), workflow runs, and edits. The
// entries are made and chained on one goroutine and written in order on
// another.
//
// Rows go in AuditBatch to a transaction with
// [store.Tx.AppendAuditBatch], which chains them as [store.Tx.AppendAudit]
// would, without parsing two statements per entry. With sealed, the
// closed history goes in as [store.DB.SealAudit] would leave it, and
// never as rows: every whole segment that SealAudit would seal is written
// as [store.DB.ImportSealedSegment] does, encoded on all cores at once
// ([store.DB.PrepareSealedSegment]) and imported in order (the entries
// chained here with [bitnobi.AuditEntry.ComputeHash], as AppendAudit
// chains them), and
// only the rest of the segment the log's head was in (sealed with
// [store.DB.SealAuditFull] before the first import) and the last,
// partial, segment go in as rows. Years of history as rows, deleted again
// by the seal, took most of the time of seeding M.
func (s *Seeder) appendAudit(ctx context.Context, w *world, n int64, start time.Time, span time.Duration, r *rand.Rand, sealed bool) error {
	if n <= 0 {
		return nil
	}
	head, prev, err := s.chainHead(ctx)
	if err != nil {
		return err
	}
	plan := newAuditPlan(head, head+n, s.segmentSize(), sealed)
	g := &auditGen{r: r, w: w, t: start, step: span / time.Duration(n)}
	s.clock.setStep(time.Second) // each transaction reads it once
	// One goroutine makes and chains the entries; encoders, one a core,
	// encode and store whole segments (PrepareSealedSegment); this one
	// writes the chunks in order.
	workers := min(runtime.GOMAXPROCS(0), 8)
	chunks := make(chan *auditChunk, workers+1)
	work := make(chan *auditChunk)
	genCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range workers {
		wg.Go(func() {
			for c := range work {
				c.prepared, c.err = s.DB.PrepareSealedSegment(genCtx, c.entries)
				close(c.ready)
			}
		})
	}
	wg.Go(func() {
		defer close(chunks)
		defer close(work)
		for seq := head + 1; seq <= plan.last; {
			end := plan.chunkEnd(seq)
			c := &auditChunk{segment: plan.imported(seq), entries: make([]bitnobi.AuditEntry, end-seq+1)}
			for i := range c.entries {
				e := &c.entries[i]
				g.next(e)
				e.Seq, e.PrevHash, e.At = seq, prev, e.At.UTC()
				e.Hash = e.ComputeHash()
				prev = e.Hash
				seq++
			}
			if c.segment {
				c.ready = make(chan struct{})
				select {
				case work <- c:
				case <-genCtx.Done():
					return
				}
			}
			select {
			case chunks <- c:
			case <-genCtx.Done():
				return
			}
		}
	})
	var done, segs, sealedEntries, bytes int64
	var last time.Time
	headSealed := false
	for c := range chunks {
		es := c.entries
		last = es[len(es)-1].At
		if c.segment {
			if !headSealed {
				// The services' entries and ours before the first import
				// end with a whole segment: seal them.
				if _, err := s.DB.SealAuditFull(ctx); err != nil {
					return err
				}
				headSealed = true
			}
			<-c.ready
			if c.err != nil {
				return c.err
			}
			// The segment is sealed soon after its last entry, as a
			// server's would be: its blob's time.
			s.clock.advanceTo(last)
			seg, err := s.DB.ImportPreparedSegment(ctx, c.prepared)
			if err != nil {
				return err
			}
			segs++
			sealedEntries += seg.Entries
			bytes += seg.Size
		} else {
			b := make([]*bitnobi.AuditEntry, len(es))
			for i := range es {
				b[i] = &es[i]
			}
			err := s.DB.WriteTx(ctx, func(tx *store.Tx) error {
				return tx.AppendAuditBatch(ctx, b)
			})
			if err != nil {
				return err
			}
		}
		done += int64(len(es))
		s.stats.AuditAdded += int64(len(es))
		if done == n || time.Since(s.lastLog) > 2*time.Second {
			s.lastLog = time.Now()
			s.logf("audit %d/%d entries", done, n)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if done != n {
		return fmt.Errorf("audit: made %d of %d entries", done, n)
	}
	if segs > 0 {
		s.logf("wrote %d sealed audit segments (%d entries, %d bytes)", segs, sealedEntries, bytes)
	}
	s.clock.advanceTo(last)
	return nil
}

// auditChunk is entries that go in together: a whole segment to import,
// or rows to append in one transaction.
type auditChunk struct {
	segment bool
	entries []bitnobi.AuditEntry
	// For a segment: closed once an encoder has prepared it, or failed.
	ready    chan struct{}
	prepared *store.PreparedSegment
	err      error
}

// auditPlan says how [Seeder.appendAudit] writes the entries after head
// up to last: as rows up to rowsTo, the end of the segment the head is
// in (if the head is in audit_log); then, when importTo is not 0, as
// whole segments up to importTo, the end of the last segment that has a
// newer entry (the ones SealAudit would seal); then as rows.
type auditPlan struct {
	n                      int64 // segment size
	rowsTo, importTo, last int64
}

func newAuditPlan(head, last, n int64, sealed bool) auditPlan {
	p := auditPlan{n: n, last: last}
	if head > 0 {
		p.rowsTo = min(p.segmentEnd(head), last)
	}
	if to := last/n*n - 1; sealed && to > p.rowsTo {
		p.importTo = to
	}
	return p
}

// segmentEnd returns the last seq of the segment that holds seq: segments
// are seq k·n to (k+1)·n-1 (the first from seq 1), as store.DB.SealAudit
// seals them.
func (p auditPlan) segmentEnd(seq int64) int64 { return (seq/p.n+1)*p.n - 1 }

// imported reports whether seq goes in as part of a sealed segment.
func (p auditPlan) imported(seq int64) bool { return seq > p.rowsTo && seq <= p.importTo }

// chunkEnd returns the last seq of the chunk that starts at seq.
func (p auditPlan) chunkEnd(seq int64) int64 {
	if p.imported(seq) {
		return p.segmentEnd(seq)
	}
	end := min(seq+AuditBatch-1, p.last)
	if p.importTo > 0 && seq <= p.rowsTo {
		end = min(end, p.rowsTo)
	}
	return end
}

// segmentSize returns the size of the store's audit segments.
func (s *Seeder) segmentSize() int64 {
	if s.DB.AuditSegmentSize > 0 {
		return s.DB.AuditSegmentSize
	}
	return store.DefaultAuditSegmentSize
}

// chainHead returns the seq and hash of the audit log's last entry, in
// audit_log or, when that is empty, the last sealed segment (0 and "" for
// an empty log).
func (s *Seeder) chainHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.DB.Read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.DB.Read.QueryRowContext(ctx, `SELECT last_seq, last_hash FROM audit_segments ORDER BY first_seq DESC LIMIT 1`).Scan(&seq, &hash)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("read audit chain head: %w", err)
	}
	return seq, hash, nil
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
