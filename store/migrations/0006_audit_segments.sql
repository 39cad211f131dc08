-- 0006: sealed audit log segments (issue 15).
--
-- The audit log only grows, so its closed history is kept as immutable
-- segment files rather than as rows: when audit_log holds every entry of
-- a segment and at least one newer entry, store.DB.SealAudit writes the
-- segment's entries to one blob (format: package store/auditseg,
-- docs/backup-format.md) and, in one transaction, records it here and
-- deletes its rows from audit_log. Segment k holds seq k*N .. (k+1)*N-1
-- (N = store.DefaultAuditSegmentSize, 16384: the key ranges backups split
-- audit_log by; the first segment holds seq 1 .. N-1); readers go by
-- first_seq and last_seq, never by N.
--
-- first_at and last_at are the smallest and largest time of the segment's
-- entries (its first's and last's, as long as the clock never went back);
-- prev_hash is the first entry's prev_hash and last_hash the last entry's
-- hash, so the chain can be followed from segment to segment and into
-- audit_log without opening a file. actors, actions and target_types are
-- JSON arrays of the distinct actor_id and actor_name values, actions and
-- target types of the segment's entries, sorted: a query that filters on
-- one of them skips the segments that do not hold it.
--
-- blob_id is a foreign key to blobs, so blob GC keeps every sealed segment
-- and backups copy it like any blob.
CREATE TABLE audit_segments (
	first_seq    INTEGER PRIMARY KEY,
	last_seq     INTEGER NOT NULL,
	entries      INTEGER NOT NULL,
	first_at     TEXT NOT NULL,
	last_at      TEXT NOT NULL,
	prev_hash    TEXT NOT NULL,
	last_hash    TEXT NOT NULL,
	blob_id      TEXT NOT NULL REFERENCES blobs(id),
	size         INTEGER NOT NULL,
	actors       TEXT NOT NULL DEFAULT '[]',
	actions      TEXT NOT NULL DEFAULT '[]',
	target_types TEXT NOT NULL DEFAULT '[]'
);

-- Change stamps, as 0002 gives every table that holds state.
INSERT INTO table_changes (name, stamp) VALUES ('audit_segments', lower(hex(randomblob(16))));

CREATE TRIGGER audit_segments_stamp_insert AFTER INSERT ON audit_segments BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_segments', lower(hex(randomblob(16))));
END;

CREATE TRIGGER audit_segments_stamp_update AFTER UPDATE ON audit_segments BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_segments', lower(hex(randomblob(16))));
END;

CREATE TRIGGER audit_segments_stamp_delete AFTER DELETE ON audit_segments BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_segments', lower(hex(randomblob(16))));
END;
