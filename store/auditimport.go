package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bitnobi/bitnobi"
)

// ImportSealedSegment writes entries, made or read elsewhere, as the next
// sealed segment of the audit log, with the code [DB.SealAudit] seals
// with: the blob, its blobs row and the audit_segments row are the ones
// sealing the same entries from audit_log would leave, but the entries
// are never written to audit_log and deleted again. It exists for seeding
// (bitnobi dev seed writes years of closed history this way, which as
// rows and then a seal took most of its time) and for imports of an
// audit log kept elsewhere; a server appends and seals.
//
// It refuses, with an error wrapping [ErrAuditChain] and writing nothing
// the database refers to, entries that are not exactly the next segment
// as SealAudit would seal it:
//   - one whole segment range, seq k·N to (k+1)·N-1 (N is
//     db.AuditSegmentSize; the first segment holds seq 1 to N-1), in
//     order and without a gap;
//   - following the last sealed segment: the first entry starts right
//     after it, and its PrevHash is its last hash ("", the start of the
//     chain, when none is sealed);
//   - chained: each entry's PrevHash is the Hash of the one before it,
//     and each Hash is its [bitnobi.AuditEntry.ComputeHash];
//   - over an audit_log that holds no entry in or below that range (so
//     only the segment's place in the chain is free), and whose entries
//     above it, if any, continue the chain from its last entry.
//
// It takes turns with [DB.SealAudit] in one process, and its write
// transaction checks the chain's state again, so an import racing
// another process's seal or append is refused rather than forking the
// chain. db.Blobs must be set. The entries are not changed.
//
// It is [DB.PrepareSealedSegment] then [DB.ImportPreparedSegment], with
// the segment's place checked before its blob is written too; those two
// let an importer encode many segments at once.
func (db *DB) ImportSealedSegment(ctx context.Context, entries []bitnobi.AuditEntry) (*AuditSegment, error) {
	if err := db.checkSegmentEntries(entries, false); err != nil {
		return nil, err
	}
	first, last := entries[0].Seq, entries[len(entries)-1].Seq
	// Checked before writing the blob, so that a refused import leaves
	// nothing behind, and again in the write transaction, which decides.
	err := db.ReadTx(ctx, func(tx *Tx) error {
		return tx.checkImport(ctx, first, last, entries[0].PrevHash, entries[len(entries)-1].Hash)
	})
	if err != nil {
		return nil, importError(first, last, err)
	}
	p, err := db.PrepareSealedSegment(ctx, entries)
	if err != nil {
		return nil, err
	}
	return db.ImportPreparedSegment(ctx, p)
}

// PreparedSegment is a segment of the audit log encoded and stored in the
// blob store by [DB.PrepareSealedSegment], for [DB.ImportPreparedSegment]
// to record.
type PreparedSegment struct {
	seg  *AuditSegment
	data []byte // the file, put again if the blob collector removed it
}

// PrepareSealedSegment does the part of [DB.ImportSealedSegment] that
// does not depend on the rest of the log: it checks that entries are one
// whole segment range and chained, encodes them and puts the segment
// file in db.Blobs. It is safe for concurrent use, so that an importer
// encodes many segments at once and then imports them in order. Until it
// is imported, the file is an unreferenced blob, which the blob collector
// removes after its grace period.
func (db *DB) PrepareSealedSegment(ctx context.Context, entries []bitnobi.AuditEntry) (*PreparedSegment, error) {
	if err := db.checkSegmentEntries(entries, true); err != nil {
		return nil, err
	}
	seg, data, err := db.putSegment(ctx, entries)
	if err != nil {
		return nil, fmt.Errorf("import audit segment seq %d-%d: %w", entries[0].Seq, entries[len(entries)-1].Seq, err)
	}
	return &PreparedSegment{seg: seg, data: data}, nil
}

// ImportPreparedSegment records p as the next sealed segment of the audit
// log, as [DB.ImportSealedSegment] does, refusing it as that does when it
// is not the next segment. db.Blobs must be set.
func (db *DB) ImportPreparedSegment(ctx context.Context, p *PreparedSegment) (*AuditSegment, error) {
	seg := *p.seg
	if db.Blobs == nil {
		// p may come from another database's PrepareSealedSegment.
		return nil, fmt.Errorf("import audit segment seq %d-%d: no blob store", seg.FirstSeq, seg.LastSeq)
	}
	db.sealMu.Lock()
	defer db.sealMu.Unlock()
	err := db.commitSegment(ctx, &seg, p.data, func(tx *Tx) error {
		return tx.checkImport(ctx, seg.FirstSeq, seg.LastSeq, seg.PrevHash, seg.LastHash)
	})
	if err != nil {
		return nil, importError(seg.FirstSeq, seg.LastSeq, err)
	}
	return &seg, nil
}

// importError returns the error of an import of seq first to last that
// failed with err.
func importError(first, last int64, err error) error {
	switch {
	case errors.Is(err, errSealRaced):
		return fmt.Errorf("import audit segment seq %d-%d: %w: it does not follow the last sealed segment: another process sealed it meanwhile, or segments were imported out of seq order (import them in order)", first, last, ErrAuditChain)
	case errors.Is(err, errImportPlace):
		return fmt.Errorf("import audit segment seq %d-%d: %w: %v", first, last, ErrAuditChain, err)
	}
	return fmt.Errorf("import audit segment seq %d-%d: %w", first, last, err)
}

// checkSegmentEntries checks that entries are one whole segment range, as
// SealAudit seals them, and, with chain, chained.
func (db *DB) checkSegmentEntries(entries []bitnobi.AuditEntry, chain bool) error {
	if db.Blobs == nil {
		return errors.New("import audit segment: no blob store")
	}
	if len(entries) == 0 {
		return fmt.Errorf("import audit segment: %w: no entries", ErrAuditChain)
	}
	n := db.segmentSize()
	first := entries[0].Seq
	last := (first/n+1)*n - 1
	if first < 1 || (first != 1 && first%n != 0) {
		return fmt.Errorf("import audit segment: %w: seq %d does not start a segment of %d entries", ErrAuditChain, first, n)
	}
	if int64(len(entries)) != last-first+1 {
		return fmt.Errorf("import audit segment seq %d-%d: %w: %d entries, not the %d of the whole segment", first, last, ErrAuditChain, len(entries), last-first+1)
	}
	if !chain {
		return nil
	}
	// The chain within the segment, as VerifyAudit checks a sealed one:
	// on copies, since Next sets At from its text.
	c := AuditChain{n: first - 1, seq: first - 1, last: entries[0].PrevHash}
	for i := range entries {
		e := entries[i]
		if err := c.Next(&e, bitnobi.FormatTime(e.At)); err != nil {
			return fmt.Errorf("import audit segment seq %d-%d: %w", first, last, err)
		}
	}
	return nil
}

// errImportPlace means the chain has no place for an imported segment.
var errImportPlace = errors.New("not the next segment")

// checkImport checks that the segment seq first to last, whose first
// entry's prev_hash is prevHash and last entry's hash lastHash, is the
// next one to seal: it follows the last sealed segment, and audit_log
// holds nothing in or below its range and, above it, continues from it.
// An error wraps errImportPlace.
func (tx *Tx) checkImport(ctx context.Context, first, last int64, prevHash, lastHash string) error {
	var done int64
	var doneHash string
	err := tx.QueryRow(ctx, sealedHeadSQL).Scan(&done, &doneHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read sealed segments: %w", err)
	}
	switch {
	case done != first-1:
		return fmt.Errorf("%w: the sealed segments end at seq %d, so the next starts at seq %d", errImportPlace, done, done+1)
	case doneHash != prevHash:
		return fmt.Errorf("%w: its first entry's prev_hash is not the hash of the last sealed entry, seq %d", errImportPlace, done)
	}
	var live int64
	var livePrev string
	err = tx.QueryRow(ctx, `SELECT seq, prev_hash FROM audit_log ORDER BY seq LIMIT 1`).Scan(&live, &livePrev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read audit log: %w", err)
	case live <= last:
		return fmt.Errorf("%w: audit_log holds entries from seq %d, in or below its range: seal them instead (SealAudit)", errImportPlace, live)
	case live != last+1 || livePrev != lastHash:
		return fmt.Errorf("%w: audit_log's entries from seq %d do not continue the chain from its last entry", errImportPlace, live)
	}
	return nil
}

// SealAuditFull is [DB.SealAudit] that also seals the segment holding the
// chain's head when audit_log holds all of it, leaving audit_log empty.
// That is the state from which [DB.ImportSealedSegment] continues the
// chain with the next segment: a seeder that appended the rest of the
// services' last segment calls it before importing. A server never needs
// it: SealAudit keeps the head in audit_log, where appends look first
// ([Tx.AppendAudit] finds it in the last segment otherwise).
func (db *DB) SealAuditFull(ctx context.Context) (SealResult, error) {
	start := time.Now()
	res, err := db.SealAudit(ctx)
	if err != nil {
		return res, err
	}
	db.sealMu.Lock()
	defer db.sealMu.Unlock()
	var done, liveMax int64
	var lastHash string
	err = db.ReadTx(ctx, func(tx *Tx) error {
		err := tx.QueryRow(ctx, sealedHeadSQL).Scan(&done, &lastHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read sealed segments: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_log`).Scan(&liveMax)
	})
	if err != nil {
		return res, fmt.Errorf("seal audit log: %w", err)
	}
	n := db.segmentSize()
	first := done + 1
	last := (first/n+1)*n - 1
	if liveMax == last {
		seg, size, err := db.sealSegment(ctx, first, last, lastHash)
		switch {
		case errors.Is(err, errSealRaced):
			// Sealed by another process: nothing left to do here.
		case err != nil:
			res.Duration = time.Since(start)
			return res, fmt.Errorf("seal audit log seq %d-%d: %w", first, last, err)
		default:
			res.Segments++
			res.Entries += seg.Entries
			res.Bytes += size
			res.SealedUpTo = seg.LastSeq
			db.reclaimSpace(ctx)
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}
