-- 0003 on PostgreSQL: ../0003_access.sql (read it for why).
ALTER TABLE sessions ADD COLUMN last_used_at TEXT COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE run_sources (
	run_id      TEXT COLLATE "C" NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
	seq         BIGINT NOT NULL,
	kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('datasource', 'workflow_run')),
	source_id   TEXT COLLATE "C" NOT NULL,
	workflow_id TEXT COLLATE "C" NOT NULL DEFAULT '',
	owner_id    TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (run_id, seq)
);

INSERT INTO table_changes (name, stamp) VALUES ('run_sources', replace(gen_random_uuid()::text, '-', ''));

CREATE TRIGGER run_sources_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON run_sources
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();
