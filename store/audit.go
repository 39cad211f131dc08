package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
)

// Audit appends an entry to the audit log within tx, so that the entry
// commits or rolls back together with the change it records. The actor
// (who, from where) comes from ctx; detail, if not nil, is stored as JSON.
func (tx *Tx) Audit(ctx context.Context, action, targetType, targetID string, detail any) error {
	a := bitnobi.ActorFromContext(ctx)
	e := &bitnobi.AuditEntry{
		At:         tx.Now(),
		ActorID:    a.UserID,
		ActorName:  a.Username,
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		RemoteAddr: a.RemoteAddr,
		RemoteUser: a.RemoteUser,
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit %s: encode detail: %w", action, err)
		}
		e.Detail = string(b)
	}
	return tx.AppendAudit(ctx, e)
}

// AppendAudit appends e to the chain within tx, filling in Seq, PrevHash and
// Hash. Appends are serialised (by the dialect's LockAudit, or by the
// engine's single writer), so the chain never forks. To append many
// entries in one transaction, [Tx.AppendAuditBatch] gives the same chain
// for a fraction of the cost.
func (tx *Tx) AppendAudit(ctx context.Context, e *bitnobi.AuditEntry) error {
	seq, hash, err := tx.auditHead(ctx)
	if err != nil {
		return err
	}
	chainAudit(e, seq, hash)
	if _, err := tx.execHot(ctx, insertAuditSQL, auditArgs(e)...); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// auditHead takes the audit lock for the rest of tx and returns the seq and
// hash of the last entry of the chain (0 and "" when the log is empty).
// Holding the lock, tx alone appends, so the head stays what it read until
// tx appends.
func (tx *Tx) auditHead(ctx context.Context) (seq int64, hash string, err error) {
	if err := tx.db.Dialect.LockAudit(ctx, tx.Tx); err != nil {
		return 0, "", fmt.Errorf("lock audit log: %w", err)
	}
	err = tx.queryRowHot(ctx, auditHeadSQL).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Only on an empty audit_log, so appends pay nothing for it.
		err = tx.QueryRow(ctx, sealedHeadSQL).Scan(&seq, &hash)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("read audit chain head: %w", err)
	}
	return seq, hash, nil
}

// chainAudit links e after the entry with prevSeq and prevHash: it fills in
// Seq, PrevHash and Hash, and puts At in UTC, as it is stored and hashed.
func chainAudit(e *bitnobi.AuditEntry, prevSeq int64, prevHash string) {
	e.Seq = prevSeq + 1
	e.PrevHash = prevHash
	e.At = e.At.UTC()
	e.Hash = e.ComputeHash()
}

// auditHeadSQL reads the seq and hash of the last audit entry of
// audit_log. Sealing always leaves the head there, so this is the chain's
// head but when audit_log is empty: then [sealedHeadSQL] gives it.
const auditHeadSQL = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`

// sealedHeadSQL reads the seq and hash of the last sealed entry: the head
// of the chain when audit_log is empty (after a restore of only sealed
// history, say), so that the chain never restarts at seq 1.
const sealedHeadSQL = `SELECT last_seq, last_hash FROM audit_segments ORDER BY first_seq DESC LIMIT 1`

// insertAuditSQL inserts one audit entry; its arguments are [auditArgs].
const insertAuditSQL = `INSERT INTO audit_log (seq, at, actor_id, actor_name, action, target_type, target_id, detail, remote_addr, remote_user, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// auditArgs returns the arguments of [insertAuditSQL] for e.
func auditArgs(e *bitnobi.AuditEntry) []any {
	return []any{e.Seq, ts(e.At), e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Detail, e.RemoteAddr, e.RemoteUser, e.PrevHash, e.Hash}
}

// ErrAuditChain is returned when the audit log's hash chain is broken.
var ErrAuditChain = errors.New("audit chain broken")

// VerifyAudit walks the audit log in order within q, checking each entry's
// hash and its link to the previous one. It returns the number of entries
// and the last hash; a broken chain gives an error wrapping [ErrAuditChain]
// that names the first bad entry.
//
// Sealed segments are checked by their index only: that they follow each
// other and the live entries without a gap, prev_hash to last hash. Their
// files are read by [DB.VerifyAudit], which needs the blob store.
func VerifyAudit(ctx context.Context, q Querier) (n int64, last string, err error) {
	return verifyAudit(ctx, q, nil, true, false)
}

// VerifyAudit is the package's [VerifyAudit] that also reads every sealed
// segment from db.Blobs: its file must hash to its blob id, decode, hold
// the entries its index row names, and each entry must check as a live
// one does. An error names the segment. A database of a schema without
// sealed segments (one not migrated yet) is checked too.
func (db *DB) VerifyAudit(ctx context.Context, q Querier) (n int64, last string, err error) {
	tables, err := db.Dialect.Tables(ctx, q)
	if err != nil {
		return 0, "", fmt.Errorf("verify audit log: %w", err)
	}
	return verifyAudit(ctx, q, db.Blobs, slices.Contains(tables, "audit_segments"), true)
}

// verifyAudit checks the chain of the sealed segments, if sealed, reading
// their files from blobs if readFiles, then of audit_log.
func verifyAudit(ctx context.Context, q Querier, blobs *blob.Store, sealed, readFiles bool) (n int64, last string, err error) {
	var chain AuditChain
	if sealed {
		segs, err := AuditSegments(ctx, q)
		if err != nil {
			return 0, "", err
		}
		if len(segs) > 0 && readFiles && blobs == nil {
			return 0, "", errors.New("verify audit log: sealed segments but no blob store to read them from")
		}
		for i := range segs {
			if err := chain.segment(ctx, &segs[i], blobs); err != nil {
				return chain.Count(), chain.Last(), err
			}
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT seq, at, actor_id, actor_name, action, target_type, target_id, detail, remote_addr, remote_user, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return chain.Count(), chain.Last(), fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var e bitnobi.AuditEntry
	var at string
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash); err != nil {
			return chain.Count(), chain.Last(), fmt.Errorf("read audit log: %w", err)
		}
		if err := chain.Next(&e, at); err != nil {
			return chain.Count(), chain.Last(), err
		}
	}
	if err := rows.Err(); err != nil {
		return chain.Count(), chain.Last(), fmt.Errorf("read audit log: %w", err)
	}
	return chain.Count(), chain.Last(), nil
}
