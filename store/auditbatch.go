package store

import (
	"context"
	"fmt"

	"github.com/bitnobi/bitnobi"
)

// AppendAuditBatch appends entries to the chain within tx, in order, as
// that many calls of [Tx.AppendAudit] would: each entry gets the same Seq,
// PrevHash and Hash, and At in UTC. It is for bulk appends (seeding, for
// one): it takes the audit lock and reads the chain head once, keeps the
// head in memory, and prepares the INSERT once, where AppendAudit parses
// and runs two statements per entry.
//
// Entries must not be nil. An empty batch does nothing. On an error, the
// entries before the failing one are already filled in and appended, so tx
// must be rolled back (as [DB.WriteTx] does when fn fails) for the log to
// stay as it was.
func (tx *Tx) AppendAuditBatch(ctx context.Context, entries []*bitnobi.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	seq, hash, err := tx.auditHead(ctx)
	if err != nil {
		return err
	}
	// The hot statement if prepared, else one prepared in tx; either is
	// closed for tx at the latest when tx ends.
	stmt := tx.stmt(ctx, insertAuditSQL)
	if stmt == nil {
		if stmt, err = tx.PrepareContext(ctx, tx.db.Dialect.Rebind(insertAuditSQL)); err != nil {
			return fmt.Errorf("append audit entries: prepare: %w", err)
		}
	}
	defer stmt.Close()
	for i, e := range entries {
		chainAudit(e, seq, hash)
		if _, err := stmt.ExecContext(ctx, auditArgs(e)...); err != nil {
			return fmt.Errorf("append audit entry %d of %d (seq %d): %w", i+1, len(entries), e.Seq, err)
		}
		seq, hash = e.Seq, e.Hash
	}
	return nil
}
