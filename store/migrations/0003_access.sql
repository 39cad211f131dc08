-- 0003: what the access rules of docs/api.md ("Access to data") need.
--
-- sessions.last_used_at: when the session last authenticated a request,
-- for the idle timeout ('' for sessions made before this migration, which
-- count from their created_at). Sessions are not backed up.
--
-- run_sources: the lineage of each run, one row per source it read: an
-- uploaded data source (kind 'datasource', source_id its id) or the result
-- of another workflow's run (kind 'workflow_run', source_id the run,
-- workflow_id its workflow). owner_id is the source's owner when it was
-- read. Reading a result checks, at read time, that the reader may still
-- read every source that came from someone other than the workflow's
-- owner, recursively. The sources are not foreign keys: a deleted source
-- keeps its row, so that a result derived from it does not become readable
-- by more users than before.
ALTER TABLE sessions ADD COLUMN last_used_at TEXT NOT NULL DEFAULT '';

CREATE TABLE run_sources (
	run_id      TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('datasource', 'workflow_run')),
	source_id   TEXT NOT NULL,
	workflow_id TEXT NOT NULL DEFAULT '',
	owner_id    TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
);

INSERT INTO table_changes (name, stamp) VALUES ('run_sources', lower(hex(randomblob(16))));

CREATE TRIGGER run_sources_stamp_insert AFTER INSERT ON run_sources BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('run_sources', lower(hex(randomblob(16))));
END;

CREATE TRIGGER run_sources_stamp_update AFTER UPDATE ON run_sources BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('run_sources', lower(hex(randomblob(16))));
END;

CREATE TRIGGER run_sources_stamp_delete AFTER DELETE ON run_sources BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('run_sources', lower(hex(randomblob(16))));
END;
