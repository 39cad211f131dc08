-- 0002: change stamps, so that a backup knows cheaply what did not change.
--
-- table_changes holds, for each table that holds state, a random stamp that
-- every committed change to the table replaces (triggers below, in the same
-- transaction as the change). A backup records the stamps it read with its
-- snapshot; the next backup may hard-link a table's files from it when the
-- stamp is still the same, instead of exporting the rows again. A stamp is
-- random rather than a counter so that two copies of one database that
-- both change never show the same stamp. A table without a row here counts
-- as changed: missing stamps cost speed, never correctness.
--
-- audit_log is append-only: appending (inserting a seq above every other)
-- leaves its stamp alone; any other insert, an UPDATE or a DELETE replaces
-- it. So an unchanged stamp means the rows up to a key read earlier are
-- still the same, and a backup finds what was appended by key range
-- (docs/backup-format.md, "Segments").
--
-- table_changes is not backed up (store.NotBackedUp): a restored database
-- starts with new stamps. A migration that adds a table that holds state
-- adds its triggers too; TestChangeStampTriggers fails otherwise.
CREATE TABLE table_changes (
	name  TEXT PRIMARY KEY,
	stamp TEXT NOT NULL
);

-- Every table starts with a stamp, so that the first backups can link
-- what did not change (audit_log, which appends leave alone, needs it).
INSERT INTO table_changes (name, stamp) VALUES
	('meta', lower(hex(randomblob(16)))),
	('users', lower(hex(randomblob(16)))),
	('user_attributes', lower(hex(randomblob(16)))),
	('secrets', lower(hex(randomblob(16)))),
	('blobs', lower(hex(randomblob(16)))),
	('policies', lower(hex(randomblob(16)))),
	('policy_attributes', lower(hex(randomblob(16)))),
	('datasources', lower(hex(randomblob(16)))),
	('workflows', lower(hex(randomblob(16)))),
	('workflow_policies', lower(hex(randomblob(16)))),
	('workflow_runs', lower(hex(randomblob(16)))),
	('reports', lower(hex(randomblob(16)))),
	('remote_servers', lower(hex(randomblob(16)))),
	('email_settings', lower(hex(randomblob(16)))),
	('audit_log', lower(hex(randomblob(16))));

CREATE TRIGGER meta_stamp_insert AFTER INSERT ON meta BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('meta', lower(hex(randomblob(16))));
END;

CREATE TRIGGER meta_stamp_update AFTER UPDATE ON meta BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('meta', lower(hex(randomblob(16))));
END;

CREATE TRIGGER meta_stamp_delete AFTER DELETE ON meta BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('meta', lower(hex(randomblob(16))));
END;

CREATE TRIGGER users_stamp_insert AFTER INSERT ON users BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('users', lower(hex(randomblob(16))));
END;

CREATE TRIGGER users_stamp_update AFTER UPDATE ON users BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('users', lower(hex(randomblob(16))));
END;

CREATE TRIGGER users_stamp_delete AFTER DELETE ON users BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('users', lower(hex(randomblob(16))));
END;

CREATE TRIGGER user_attributes_stamp_insert AFTER INSERT ON user_attributes BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('user_attributes', lower(hex(randomblob(16))));
END;

CREATE TRIGGER user_attributes_stamp_update AFTER UPDATE ON user_attributes BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('user_attributes', lower(hex(randomblob(16))));
END;

CREATE TRIGGER user_attributes_stamp_delete AFTER DELETE ON user_attributes BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('user_attributes', lower(hex(randomblob(16))));
END;

CREATE TRIGGER secrets_stamp_insert AFTER INSERT ON secrets BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('secrets', lower(hex(randomblob(16))));
END;

CREATE TRIGGER secrets_stamp_update AFTER UPDATE ON secrets BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('secrets', lower(hex(randomblob(16))));
END;

CREATE TRIGGER secrets_stamp_delete AFTER DELETE ON secrets BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('secrets', lower(hex(randomblob(16))));
END;

CREATE TRIGGER blobs_stamp_insert AFTER INSERT ON blobs BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('blobs', lower(hex(randomblob(16))));
END;

CREATE TRIGGER blobs_stamp_update AFTER UPDATE ON blobs BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('blobs', lower(hex(randomblob(16))));
END;

CREATE TRIGGER blobs_stamp_delete AFTER DELETE ON blobs BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('blobs', lower(hex(randomblob(16))));
END;

CREATE TRIGGER policies_stamp_insert AFTER INSERT ON policies BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('policies', lower(hex(randomblob(16))));
END;

CREATE TRIGGER policies_stamp_update AFTER UPDATE ON policies BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('policies', lower(hex(randomblob(16))));
END;

CREATE TRIGGER policies_stamp_delete AFTER DELETE ON policies BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('policies', lower(hex(randomblob(16))));
END;

CREATE TRIGGER policy_attributes_stamp_insert AFTER INSERT ON policy_attributes BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('policy_attributes', lower(hex(randomblob(16))));
END;

CREATE TRIGGER policy_attributes_stamp_update AFTER UPDATE ON policy_attributes BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('policy_attributes', lower(hex(randomblob(16))));
END;

CREATE TRIGGER policy_attributes_stamp_delete AFTER DELETE ON policy_attributes BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('policy_attributes', lower(hex(randomblob(16))));
END;

CREATE TRIGGER datasources_stamp_insert AFTER INSERT ON datasources BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('datasources', lower(hex(randomblob(16))));
END;

CREATE TRIGGER datasources_stamp_update AFTER UPDATE ON datasources BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('datasources', lower(hex(randomblob(16))));
END;

CREATE TRIGGER datasources_stamp_delete AFTER DELETE ON datasources BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('datasources', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflows_stamp_insert AFTER INSERT ON workflows BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflows', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflows_stamp_update AFTER UPDATE ON workflows BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflows', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflows_stamp_delete AFTER DELETE ON workflows BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflows', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflow_policies_stamp_insert AFTER INSERT ON workflow_policies BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflow_policies', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflow_policies_stamp_update AFTER UPDATE ON workflow_policies BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflow_policies', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflow_policies_stamp_delete AFTER DELETE ON workflow_policies BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflow_policies', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflow_runs_stamp_insert AFTER INSERT ON workflow_runs BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflow_runs', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflow_runs_stamp_update AFTER UPDATE ON workflow_runs BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflow_runs', lower(hex(randomblob(16))));
END;

CREATE TRIGGER workflow_runs_stamp_delete AFTER DELETE ON workflow_runs BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('workflow_runs', lower(hex(randomblob(16))));
END;

CREATE TRIGGER reports_stamp_insert AFTER INSERT ON reports BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('reports', lower(hex(randomblob(16))));
END;

CREATE TRIGGER reports_stamp_update AFTER UPDATE ON reports BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('reports', lower(hex(randomblob(16))));
END;

CREATE TRIGGER reports_stamp_delete AFTER DELETE ON reports BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('reports', lower(hex(randomblob(16))));
END;

CREATE TRIGGER remote_servers_stamp_insert AFTER INSERT ON remote_servers BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('remote_servers', lower(hex(randomblob(16))));
END;

CREATE TRIGGER remote_servers_stamp_update AFTER UPDATE ON remote_servers BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('remote_servers', lower(hex(randomblob(16))));
END;

CREATE TRIGGER remote_servers_stamp_delete AFTER DELETE ON remote_servers BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('remote_servers', lower(hex(randomblob(16))));
END;

CREATE TRIGGER email_settings_stamp_insert AFTER INSERT ON email_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('email_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER email_settings_stamp_update AFTER UPDATE ON email_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('email_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER email_settings_stamp_delete AFTER DELETE ON email_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('email_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER audit_log_stamp_insert AFTER INSERT ON audit_log
WHEN NEW.seq < (SELECT max(seq) FROM audit_log) BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_log', lower(hex(randomblob(16))));
END;

CREATE TRIGGER audit_log_stamp_update AFTER UPDATE ON audit_log BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_log', lower(hex(randomblob(16))));
END;

CREATE TRIGGER audit_log_stamp_delete AFTER DELETE ON audit_log BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('audit_log', lower(hex(randomblob(16))));
END;
