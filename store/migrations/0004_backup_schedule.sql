-- 0004: the schedule of the backups the server runs itself (issue 14), how
-- it sends mail securely, and password-reset tokens (issue 16).
--
-- backup_settings is a single row (id = 1), absent until an administrator
-- first saves it: the server then runs its defaults (see
-- bitnobi.DefaultBackupSettings). It holds state, so it is backed up and
-- has change-stamp triggers; the off-site secret key is sealed in secrets.
CREATE TABLE backup_settings (
	id                   INTEGER PRIMARY KEY CHECK (id = 1),
	enabled              INTEGER NOT NULL,
	schedule             TEXT NOT NULL,
	keep_last            INTEGER NOT NULL DEFAULT 0,
	keep_hourly          INTEGER NOT NULL DEFAULT 0,
	keep_daily           INTEGER NOT NULL DEFAULT 0,
	keep_weekly          INTEGER NOT NULL DEFAULT 0,
	keep_monthly         INTEGER NOT NULL DEFAULT 0,
	keep_yearly          INTEGER NOT NULL DEFAULT 0,
	keep_within          TEXT NOT NULL DEFAULT '',
	verify_schedule      TEXT NOT NULL DEFAULT '',
	deep_verify_schedule TEXT NOT NULL DEFAULT '',
	alert_after_hours    INTEGER NOT NULL DEFAULT 0,
	offsite_endpoint     TEXT NOT NULL DEFAULT '',
	offsite_bucket       TEXT NOT NULL DEFAULT '',
	offsite_prefix       TEXT NOT NULL DEFAULT '',
	offsite_region       TEXT NOT NULL DEFAULT '',
	offsite_access_key   TEXT NOT NULL DEFAULT '',
	offsite_secret_id    TEXT REFERENCES secrets(id),
	offsite_sse          TEXT NOT NULL DEFAULT '',
	updated_at           TEXT NOT NULL
);

INSERT INTO table_changes (name, stamp) VALUES ('backup_settings', lower(hex(randomblob(16))));

CREATE TRIGGER backup_settings_stamp_insert AFTER INSERT ON backup_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('backup_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER backup_settings_stamp_update AFTER UPDATE ON backup_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('backup_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER backup_settings_stamp_delete AFTER DELETE ON backup_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('backup_settings', lower(hex(randomblob(16))));
END;

-- How to reach the SMTP server: "starttls" (upgrade a plain connection,
-- refused if the server cannot), "tls" (implicit TLS, port 465) or "none"
-- (a local relay only). email_settings keeps its stamp triggers.
ALTER TABLE email_settings ADD COLUMN security TEXT NOT NULL DEFAULT 'starttls';

-- Password-reset tokens are live credentials, as sessions are: not backed
-- up (store.NotBackedUp). Only the token's SHA-256 is stored.
CREATE TABLE password_resets (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
