package store

// SetAfterSegmentPut makes SealAudit call fn with a segment's blob id
// between putting the blob and the transaction that indexes it.
func SetAfterSegmentPut(db *DB, fn func(id string)) { db.afterSegmentPut = fn }

// SetAfterGCList makes CollectGarbage call fn between listing the blob
// files to remove and removing them.
func SetAfterGCList(db *DB, fn func()) { db.afterGCList = fn }
