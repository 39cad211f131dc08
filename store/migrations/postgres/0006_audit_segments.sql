-- 0006 on PostgreSQL: ../0006_audit_segments.sql, with the change-stamp
-- trigger of 0002.
CREATE TABLE audit_segments (
	first_seq    BIGINT PRIMARY KEY,
	last_seq     BIGINT NOT NULL,
	entries      BIGINT NOT NULL,
	first_at     TEXT COLLATE "C" NOT NULL,
	last_at      TEXT COLLATE "C" NOT NULL,
	prev_hash    TEXT COLLATE "C" NOT NULL,
	last_hash    TEXT COLLATE "C" NOT NULL,
	blob_id      TEXT COLLATE "C" NOT NULL REFERENCES blobs(id),
	size         BIGINT NOT NULL,
	actors       TEXT COLLATE "C" NOT NULL DEFAULT '[]',
	actions      TEXT COLLATE "C" NOT NULL DEFAULT '[]',
	target_types TEXT COLLATE "C" NOT NULL DEFAULT '[]'
);

INSERT INTO table_changes (name, stamp) VALUES ('audit_segments', replace(gen_random_uuid()::text, '-', ''));

CREATE TRIGGER audit_segments_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_segments
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();
