package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// auditQuery selects audit entries across the sealed segments and the
// live audit_log, as one log. Zero fields do not filter.
type auditQuery struct {
	after      int64 // entries with seq > after
	upto       int64 // and seq <= upto, if not 0
	actorID    string
	actor      string // actor_name or actor_id
	action     string
	targetType string
	since      time.Time // inclusive
	until      time.Time // exclusive
	limit      int
}

// skip reports whether no entry of seg can match q (on top of the seq
// range, which the caller checks).
func (q *auditQuery) skip(seg *AuditSegment) bool {
	return (!q.since.IsZero() && seg.LastAt.Before(q.since)) ||
		(!q.until.IsZero() && !seg.FirstAt.Before(q.until)) ||
		(q.actorID != "" && !has(seg.Actors, q.actorID)) ||
		(q.actor != "" && !has(seg.Actors, q.actor)) ||
		(q.action != "" && !has(seg.Actions, q.action)) ||
		(q.targetType != "" && !has(seg.TargetTypes, q.targetType))
}

// match reports whether e matches q's filters, but the seq range.
func (q *auditQuery) match(e *bitnobi.AuditEntry) bool {
	return (q.actorID == "" || e.ActorID == q.actorID) &&
		(q.actor == "" || e.ActorName == q.actor || e.ActorID == q.actor) &&
		(q.action == "" || e.Action == q.action) &&
		(q.targetType == "" || e.TargetType == q.targetType) &&
		(q.since.IsZero() || !e.At.Before(q.since)) &&
		(q.until.IsZero() || e.At.Before(q.until))
}

// where returns the SQL conditions and arguments of q on audit_log for the
// entries above seq after.
func (q *auditQuery) where(after int64) (string, []any) {
	conds := []string{"seq > ?"}
	args := []any{after}
	if q.upto > 0 {
		conds, args = append(conds, "seq <= ?"), append(args, q.upto)
	}
	if q.actorID != "" {
		conds, args = append(conds, "actor_id = ?"), append(args, q.actorID)
	}
	if q.actor != "" {
		conds, args = append(conds, "(actor_name = ? OR actor_id = ?)"), append(args, q.actor, q.actor)
	}
	if q.action != "" {
		conds, args = append(conds, "action = ?"), append(args, q.action)
	}
	if q.targetType != "" {
		conds, args = append(conds, "target_type = ?"), append(args, q.targetType)
	}
	// Stored times are fixed-width UTC text, so text order is time order.
	if !q.since.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, ts(q.since))
	}
	if !q.until.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, ts(q.until))
	}
	return strings.Join(conds, " AND "), args
}

// findAudit returns the first q.limit entries matching q in seq order, as
// tx sees the log: from the sealed segments (skipping those that the
// index shows cannot match), then from audit_log. Each entry is a copy
// the caller owns.
func (tx *Tx) findAudit(ctx context.Context, q *auditQuery) ([]*bitnobi.AuditEntry, error) {
	entries := []*bitnobi.AuditEntry{}
	segs, err := auditSegments(ctx, tx.Tx, &tx.db.sums)
	if err != nil {
		return nil, err
	}
	after := q.after
	for i := range segs {
		seg := &segs[i]
		if seg.LastSeq <= after {
			continue
		}
		if q.upto > 0 && seg.FirstSeq > q.upto {
			return entries, nil
		}
		if !q.skip(seg) {
			full, err := tx.findInSegment(seg, q, after, &entries)
			if err != nil {
				return nil, err
			}
			if full {
				return entries, nil
			}
		}
		after = seg.LastSeq
	}
	where, args := q.where(after)
	args = append(args, q.limit-len(entries))
	rows, err := tx.Query(ctx, `SELECT seq, at, actor_id, actor_name, action, target_type, target_id, detail, remote_addr, remote_user, prev_hash, hash
		FROM audit_log WHERE `+where+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := &bitnobi.AuditEntry{}
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		if e.At, err = parseTS(at); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return entries, nil
}

// findInSegment appends to entries those of the sealed segment seg that
// match q, from the first after seq after on, and reports whether the
// query is done: the page is full or past q.upto. Only the frames from
// the first entry after after on are decoded, one at a time, until then;
// a frame's hashes are computed only as far as the last entry the page
// takes from it: most frames a filtered query reads hold none.
func (tx *Tx) findInSegment(seg *AuditSegment, q *auditQuery, after int64, entries *[]*bitnobi.AuditEntry) (bool, error) {
	x, err := tx.db.segmentIndex(seg)
	if err != nil {
		return false, err
	}
	var file segmentFile
	defer file.close()
	for fi := x.Find(after + 1); fi < len(x.Frames); fi++ {
		if q.upto > 0 && x.Frames[fi].FirstSeq > q.upto {
			return true, nil
		}
		fr, err := tx.db.segmentFrame(seg, x, fi, &file)
		if err != nil {
			return false, err
		}
		// The entries taken from this frame, by index: hashed together
		// once the frame is done with.
		var take []int
		full := false
		for j := range fr.es {
			e := &fr.es[j]
			if e.Seq <= after || !q.match(e) {
				continue
			}
			if q.upto > 0 && e.Seq > q.upto {
				full = true
				break
			}
			take = append(take, j)
			if len(*entries)+len(take) == q.limit {
				full = true
				break
			}
		}
		if len(take) == 0 {
			fr.release()
		} else {
			fr = tx.db.keepFrame(fr)
			es, err := fr.hashed(seg, x, fi, take[len(take)-1])
			if err != nil {
				return false, err
			}
			for _, j := range take {
				c := es[j]
				*entries = append(*entries, &c)
			}
		}
		if full {
			return true, nil
		}
	}
	return false, nil
}

// auditLast returns the seq of the last entry of the log, sealed or live
// (0 when it is empty).
func (tx *Tx) auditLast(ctx context.Context) (int64, error) {
	var seq int64
	var hash string
	err := tx.QueryRow(ctx, auditHeadSQL).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRow(ctx, sealedHeadSQL).Scan(&seq, &hash)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read audit chain head: %w", err)
	}
	return seq, nil
}
