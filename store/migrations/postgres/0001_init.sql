-- 0001 on PostgreSQL: the schema of ../0001_init.sql, column for column,
-- with the same names, order, keys, constraints and foreign keys (the
-- conformance test in package postgres fails if the two drift). What
-- differs, and why:
--   * INTEGER is BIGINT: sizes exceed 2 GiB, and SQLite's INTEGER is 64-bit;
--   * REAL is DOUBLE PRECISION, SQLite's REAL;
--   * TEXT is TEXT COLLATE "C": compared and sorted byte by byte, as SQLite
--     does, whatever the locale the database was created with, so that
--     orderings (primary keys in backups, lists by name) and uniqueness are
--     the same on both engines.
-- The conventions of ../0001_init.sql hold here too.

-- Installation facts: instance_id (created on first start) and others.
CREATE TABLE meta (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE users (
	id            TEXT COLLATE "C" PRIMARY KEY,
	username      TEXT COLLATE "C" NOT NULL UNIQUE,
	email         TEXT COLLATE "C" NOT NULL,
	password_hash TEXT COLLATE "C" NOT NULL,
	is_admin      BIGINT NOT NULL DEFAULT 0,
	created_at    TEXT COLLATE "C" NOT NULL,
	updated_at    TEXT COLLATE "C" NOT NULL
);

CREATE TABLE user_attributes (
	user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key     TEXT COLLATE "C" NOT NULL,
	value   TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, key)
);

-- Sessions are ephemeral: backups leave them out (see store/registry.go).
CREATE TABLE sessions (
	token_hash TEXT COLLATE "C" PRIMARY KEY,
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at TEXT COLLATE "C" NOT NULL,
	expires_at TEXT COLLATE "C" NOT NULL
);

-- Sealed secrets (AES-256-GCM under the master key); the id is the
-- additional data of the seal, so a sealed value cannot be moved to another row.
CREATE TABLE secrets (
	id         TEXT COLLATE "C" PRIMARY KEY,
	sealed     TEXT COLLATE "C" NOT NULL,
	key_fingerprint TEXT COLLATE "C" NOT NULL,
	created_at TEXT COLLATE "C" NOT NULL
);

-- Every blob a record refers to. Rows leave only through the garbage
-- collector, which never runs while a backup holds its snapshot.
CREATE TABLE blobs (
	id         TEXT COLLATE "C" PRIMARY KEY,  -- lowercase hex SHA-256 of the content
	size       BIGINT NOT NULL,
	created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE policies (
	id          TEXT COLLATE "C" PRIMARY KEY,
	owner_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT COLLATE "C" NOT NULL,
	description TEXT COLLATE "C" NOT NULL DEFAULT '',
	global      BIGINT NOT NULL DEFAULT 0,
	created_at  TEXT COLLATE "C" NOT NULL,
	updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE policy_attributes (
	policy_id TEXT COLLATE "C" NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	key       TEXT COLLATE "C" NOT NULL,
	value     TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (policy_id, key)
);

-- kind 'file': an uploaded CSV or JSON file (blob_id set);
-- kind 'sql': a connection to an external database (password in secrets).
CREATE TABLE datasources (
	id           TEXT COLLATE "C" PRIMARY KEY,
	owner_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name         TEXT COLLATE "C" NOT NULL,
	description  TEXT COLLATE "C" NOT NULL DEFAULT '',
	kind         TEXT COLLATE "C" NOT NULL CHECK (kind IN ('file', 'sql')),
	format       TEXT COLLATE "C" NOT NULL DEFAULT '',
	filename     TEXT COLLATE "C" NOT NULL DEFAULT '',
	blob_id      TEXT COLLATE "C" REFERENCES blobs(id),
	size         BIGINT NOT NULL DEFAULT 0,
	sql_driver   TEXT COLLATE "C" NOT NULL DEFAULT '',
	sql_host     TEXT COLLATE "C" NOT NULL DEFAULT '',
	sql_port     BIGINT NOT NULL DEFAULT 0,
	sql_database TEXT COLLATE "C" NOT NULL DEFAULT '',
	sql_user     TEXT COLLATE "C" NOT NULL DEFAULT '',
	sql_query    TEXT COLLATE "C" NOT NULL DEFAULT '',
	secret_id    TEXT COLLATE "C" REFERENCES secrets(id),
	created_at   TEXT COLLATE "C" NOT NULL,
	updated_at   TEXT COLLATE "C" NOT NULL
);

CREATE TABLE workflows (
	id          TEXT COLLATE "C" PRIMARY KEY,
	owner_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT COLLATE "C" NOT NULL,
	description TEXT COLLATE "C" NOT NULL DEFAULT '',
	graph       TEXT COLLATE "C" NOT NULL,             -- JSON: {"elements":[...],"edges":[...]}
	exportables TEXT COLLATE "C" NOT NULL DEFAULT '[]', -- JSON array of column names
	created_at  TEXT COLLATE "C" NOT NULL,
	updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE workflow_policies (
	workflow_id TEXT COLLATE "C" NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	policy_id   TEXT COLLATE "C" NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	attached_at TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (workflow_id, policy_id)
);

-- A run of a workflow and its result set (rows stored as a blob).
CREATE TABLE workflow_runs (
	id             TEXT COLLATE "C" PRIMARY KEY,
	workflow_id    TEXT COLLATE "C" NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	started_by     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	status         TEXT COLLATE "C" NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
	progress       DOUBLE PRECISION NOT NULL DEFAULT 0,
	error          TEXT COLLATE "C" NOT NULL DEFAULT '',
	result_blob_id TEXT COLLATE "C" REFERENCES blobs(id),
	result_columns TEXT COLLATE "C" NOT NULL DEFAULT '[]', -- JSON array of column names
	result_rows    BIGINT NOT NULL DEFAULT 0,
	started_at     TEXT COLLATE "C" NOT NULL,
	ended_at       TEXT COLLATE "C" NOT NULL DEFAULT ''
);

CREATE TABLE reports (
	id          TEXT COLLATE "C" PRIMARY KEY,
	owner_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	workflow_id TEXT COLLATE "C" NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	name        TEXT COLLATE "C" NOT NULL,
	description TEXT COLLATE "C" NOT NULL DEFAULT '',
	charts      TEXT COLLATE "C" NOT NULL DEFAULT '[]', -- JSON array of charts
	created_at  TEXT COLLATE "C" NOT NULL,
	updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE remote_servers (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT COLLATE "C" NOT NULL UNIQUE,
	url        TEXT COLLATE "C" NOT NULL,
	service_id TEXT COLLATE "C" NOT NULL,
	secret_id  TEXT COLLATE "C" REFERENCES secrets(id),
	enabled    BIGINT NOT NULL DEFAULT 1,
	created_at TEXT COLLATE "C" NOT NULL,
	updated_at TEXT COLLATE "C" NOT NULL
);

-- E-mail settings: a single row (id = 1).
CREATE TABLE email_settings (
	id         BIGINT PRIMARY KEY CHECK (id = 1),
	smtp_from  TEXT COLLATE "C" NOT NULL DEFAULT '',
	smtp_host  TEXT COLLATE "C" NOT NULL DEFAULT '',
	smtp_port  BIGINT NOT NULL DEFAULT 0,
	smtp_user  TEXT COLLATE "C" NOT NULL DEFAULT '',
	secret_id  TEXT COLLATE "C" REFERENCES secrets(id),
	enabled    BIGINT NOT NULL DEFAULT 1,
	updated_at TEXT COLLATE "C" NOT NULL
);

-- Append-only and hash-chained: see bitnobi.AuditEntry.ComputeHash. Actor
-- columns are plain text, not foreign keys, so deleting a user keeps history.
CREATE TABLE audit_log (
	seq         BIGINT PRIMARY KEY,
	at          TEXT COLLATE "C" NOT NULL,
	actor_id    TEXT COLLATE "C" NOT NULL DEFAULT '',
	actor_name  TEXT COLLATE "C" NOT NULL DEFAULT '',
	action      TEXT COLLATE "C" NOT NULL,
	target_type TEXT COLLATE "C" NOT NULL DEFAULT '',
	target_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
	detail      TEXT COLLATE "C" NOT NULL DEFAULT '',
	remote_addr TEXT COLLATE "C" NOT NULL DEFAULT '',
	remote_user TEXT COLLATE "C" NOT NULL DEFAULT '',
	prev_hash   TEXT COLLATE "C" NOT NULL,
	hash        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log(actor_id, seq);
CREATE INDEX audit_log_action ON audit_log(action, seq);
CREATE INDEX audit_log_at ON audit_log(at);
