package store

import "time"

// SetAfterSegmentPut makes SealAudit call fn with a segment's blob id
// between putting the blob and the transaction that indexes it.
func SetAfterSegmentPut(db *DB, fn func(id string)) { db.afterSegmentPut = fn }

// SetAfterGCList makes CollectGarbage call fn between listing the blob
// files to remove and removing them.
func SetAfterGCList(db *DB, fn func()) { db.afterGCList = fn }

// SetSealLockHeld makes SealAudit call fn with how long each of its write
// steps ("seal" for a segment's transaction, "reclaim" for a step of
// giving back free space) held the write connection.
func SetSealLockHeld(db *DB, fn func(step string, held time.Duration)) { db.sealLockHeld = fn }
