package store

import (
	"context"
	"errors"
	"fmt"

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
// Page by passing the last Seq seen as f.AfterSeq. The sealed segments
// and audit_log are read as one log, in one snapshot; segments that their
// index shows cannot match are not read.
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
	q := &auditQuery{after: f.AfterSeq, actorID: f.ActorID, action: f.Action, since: f.Since, until: f.Until, limit: limit}
	var entries []*bitnobi.AuditEntry
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		entries, err = tx.findAudit(ctx, q)
		return err
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
		n, _, err = s.DB.VerifyAudit(ctx, tx.Tx)
		return err
	})
	if errors.Is(err, ErrAuditChain) {
		return n, fmt.Errorf("%w (%w)", bitnobi.Errorf(bitnobi.ECONFLICT, "The audit log is not intact: %v.", err), err)
	}
	return n, err
}
