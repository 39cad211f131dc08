-- 0004: the schedule of the backups the server runs itself (issue 14), how
-- it sends mail securely, and password-reset tokens (issue 16).
--
-- backup_settings is a single row (id = 1), absent until an administrator
-- first saves it: the server then runs its defaults (see
-- bitnobi.DefaultBackupSettings). It holds state, so it is backed up and
-- has change-stamp triggers; the off-site secret key is sealed in secrets.
CREATE TABLE backup_settings (
	id                   BIGINT PRIMARY KEY CHECK (id = 1),
	enabled              BIGINT NOT NULL,
	schedule             TEXT COLLATE "C" NOT NULL,
	keep_last            BIGINT NOT NULL DEFAULT 0,
	keep_hourly          BIGINT NOT NULL DEFAULT 0,
	keep_daily           BIGINT NOT NULL DEFAULT 0,
	keep_weekly          BIGINT NOT NULL DEFAULT 0,
	keep_monthly         BIGINT NOT NULL DEFAULT 0,
	keep_yearly          BIGINT NOT NULL DEFAULT 0,
	keep_within          TEXT COLLATE "C" NOT NULL DEFAULT '',
	verify_schedule      TEXT COLLATE "C" NOT NULL DEFAULT '',
	deep_verify_schedule TEXT COLLATE "C" NOT NULL DEFAULT '',
	alert_after_hours    BIGINT NOT NULL DEFAULT 0,
	offsite_endpoint     TEXT COLLATE "C" NOT NULL DEFAULT '',
	offsite_bucket       TEXT COLLATE "C" NOT NULL DEFAULT '',
	offsite_prefix       TEXT COLLATE "C" NOT NULL DEFAULT '',
	offsite_region       TEXT COLLATE "C" NOT NULL DEFAULT '',
	offsite_access_key   TEXT COLLATE "C" NOT NULL DEFAULT '',
	offsite_secret_id    TEXT COLLATE "C" REFERENCES secrets(id),
	offsite_sse          TEXT COLLATE "C" NOT NULL DEFAULT '',
	updated_at           TEXT COLLATE "C" NOT NULL
);

INSERT INTO table_changes (name, stamp) VALUES ('backup_settings', replace(gen_random_uuid()::text, '-', ''));

CREATE TRIGGER backup_settings_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON backup_settings
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();

-- How to reach the SMTP server: "starttls" (upgrade a plain connection,
-- refused if the server cannot), "tls" (implicit TLS, port 465) or "none"
-- (a local relay only). email_settings keeps its stamp triggers.
ALTER TABLE email_settings ADD COLUMN security TEXT COLLATE "C" NOT NULL DEFAULT 'starttls';

-- Password-reset tokens are live credentials, as sessions are: not backed
-- up (store.NotBackedUp). Only the token's SHA-256 is stored.
CREATE TABLE password_resets (
	token_hash TEXT COLLATE "C" PRIMARY KEY,
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at TEXT COLLATE "C" NOT NULL,
	expires_at TEXT COLLATE "C" NOT NULL
);
