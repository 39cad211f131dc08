-- 0002 on PostgreSQL: the change stamps of ../0002_table_changes.sql (read
-- it for why), with one statement-level trigger function for every table.
-- TRUNCATE replaces a stamp too. The functions find table_changes through
-- the search_path, as every query of the server does. An INSERT into
-- audit_log replaces its stamp only if it is not an append: some row it
-- did not insert has a seq above the smallest it inserted.
CREATE TABLE table_changes (
	name  TEXT COLLATE "C" PRIMARY KEY,
	stamp TEXT COLLATE "C" NOT NULL
);

CREATE FUNCTION bitnobi_stamp_table() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO table_changes (name, stamp)
	VALUES (TG_TABLE_NAME, replace(gen_random_uuid()::text, '-', ''))
	ON CONFLICT (name) DO UPDATE SET stamp = EXCLUDED.stamp;
	RETURN NULL;
END
$$;

-- Every table starts with a stamp, so that the first backups can link
-- what did not change (audit_log, which appends leave alone, needs it).
INSERT INTO table_changes (name, stamp) VALUES
	('meta', replace(gen_random_uuid()::text, '-', '')),
	('users', replace(gen_random_uuid()::text, '-', '')),
	('user_attributes', replace(gen_random_uuid()::text, '-', '')),
	('secrets', replace(gen_random_uuid()::text, '-', '')),
	('blobs', replace(gen_random_uuid()::text, '-', '')),
	('policies', replace(gen_random_uuid()::text, '-', '')),
	('policy_attributes', replace(gen_random_uuid()::text, '-', '')),
	('datasources', replace(gen_random_uuid()::text, '-', '')),
	('workflows', replace(gen_random_uuid()::text, '-', '')),
	('workflow_policies', replace(gen_random_uuid()::text, '-', '')),
	('workflow_runs', replace(gen_random_uuid()::text, '-', '')),
	('reports', replace(gen_random_uuid()::text, '-', '')),
	('remote_servers', replace(gen_random_uuid()::text, '-', '')),
	('email_settings', replace(gen_random_uuid()::text, '-', '')),
	('audit_log', replace(gen_random_uuid()::text, '-', ''));

CREATE TRIGGER meta_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON meta
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER users_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER user_attributes_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_attributes
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER secrets_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON secrets
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER blobs_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON blobs
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER policies_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON policies
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER policy_attributes_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON policy_attributes
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER datasources_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON datasources
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER workflows_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflows
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER workflow_policies_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflow_policies
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER workflow_runs_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflow_runs
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER reports_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON reports
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER remote_servers_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON remote_servers
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER email_settings_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON email_settings
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE TRIGGER audit_log_stamp AFTER UPDATE OR DELETE OR TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

CREATE FUNCTION bitnobi_stamp_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (
		SELECT 1 FROM audit_log a
		WHERE a.seq > (SELECT min(seq) FROM new_rows)
		AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.seq = a.seq)
	) THEN
		INSERT INTO table_changes (name, stamp)
		VALUES (TG_TABLE_NAME, replace(gen_random_uuid()::text, '-', ''))
		ON CONFLICT (name) DO UPDATE SET stamp = EXCLUDED.stamp;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER audit_log_stamp_insert AFTER INSERT ON audit_log
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_audit_insert();
