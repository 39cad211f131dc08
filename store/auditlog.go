package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bitnobi/bitnobi"
)

// Audit log paging limits.
const (
	DefaultAuditLimit = 100  // entries a query returns when it names no limit
	MaxAuditLimit     = 1000 // the most a query returns, whatever it asks
)

// AuditService implements [bitnobi.AuditService] on the database. Entries
// are written by [Tx.Audit] in the transaction of each change; this
// service only reads them.
type AuditService struct {
	DB *DB
}

var _ bitnobi.AuditService = (*AuditService)(nil)

// FindAuditEntries returns entries matching f in Seq order, at most
// f.Limit of them (DefaultAuditLimit when 0, capped at MaxAuditLimit).
// Page by passing the last Seq seen as f.AfterSeq.
func (s *AuditService) FindAuditEntries(ctx context.Context, f bitnobi.AuditFilter) ([]*bitnobi.AuditEntry, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	if f.Limit < 0 {
		return nil, bitnobi.Invalidf("limit", "Limit must not be negative.")
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultAuditLimit
	} else if limit > MaxAuditLimit {
		limit = MaxAuditLimit
	}
	conds := []string{"seq > ?"}
	args := []any{f.AfterSeq}
	if f.ActorID != "" {
		conds, args = append(conds, "actor_id = ?"), append(args, f.ActorID)
	}
	if f.Action != "" {
		conds, args = append(conds, "action = ?"), append(args, f.Action)
	}
	// Stored times are fixed-width UTC text, so text order is time order.
	if !f.Since.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, ts(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, ts(f.Until))
	}
	args = append(args, limit)
	q := `SELECT seq, at, actor_id, actor_name, action, target_type, target_id, detail, remote_addr, remote_user, prev_hash, hash
		FROM audit_log WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY seq LIMIT ?`
	entries := []*bitnobi.AuditEntry{}
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e := &bitnobi.AuditEntry{}
			var at string
			if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash); err != nil {
				return fmt.Errorf("read audit log: %w", err)
			}
			if e.At, err = parseTS(at); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// VerifyAuditChain checks the whole chain in one snapshot (administrator
// only) and returns the number of entries. A broken chain is an ECONFLICT
// [bitnobi.Error] naming the first bad entry, which also wraps
// [ErrAuditChain]; the count is then of the good entries before it.
func (s *AuditService) VerifyAuditChain(ctx context.Context) (int64, error) {
	if _, err := adminActor(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		n, _, err = VerifyAudit(ctx, tx.Tx)
		return err
	})
	if errors.Is(err, ErrAuditChain) {
		return n, fmt.Errorf("%w (%w)", bitnobi.Errorf(bitnobi.ECONFLICT, "The audit log is not intact: %v.", err), err)
	}
	return n, err
}
