-- 0001: the first Bitnobi schema.
--
-- Conventions every later migration keeps, because backups depend on them:
--   * every table has a primary key; backups dump rows in primary-key order;
--   * column types are only TEXT, INTEGER and REAL, so that rows have an
--     engine-neutral form (JSON) in backups and move between SQLite and
--     PostgreSQL unchanged;
--   * times are TEXT in bitnobi.TimeFormat (UTC, nanoseconds, fixed width);
--   * IDs are TEXT made by bitnobi.NewID and never change, across restores too;
--   * file content lives in the blob store; a record refers to it by SHA-256
--     through the blobs table, so that a foreign key guards every reference.

-- Installation facts: instance_id (created on first start) and others.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	email         TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	is_admin      INTEGER NOT NULL DEFAULT 0,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);

CREATE TABLE user_attributes (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key     TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (user_id, key)
);

-- Sessions are ephemeral: backups leave them out (see store/registry.go).
CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);

-- Sealed secrets (AES-256-GCM under the master key); the id is the
-- additional data of the seal, so a sealed value cannot be moved to another row.
CREATE TABLE secrets (
	id         TEXT PRIMARY KEY,
	sealed     TEXT NOT NULL,
	key_fingerprint TEXT NOT NULL,
	created_at TEXT NOT NULL
);

-- Every blob a record refers to. Rows leave only through the garbage
-- collector, which never runs while a backup holds its snapshot.
CREATE TABLE blobs (
	id         TEXT PRIMARY KEY,  -- lowercase hex SHA-256 of the content
	size       INTEGER NOT NULL,
	created_at TEXT NOT NULL
);

CREATE TABLE policies (
	id          TEXT PRIMARY KEY,
	owner_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	global      INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);

CREATE TABLE policy_attributes (
	policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	key       TEXT NOT NULL,
	value     TEXT NOT NULL,
	PRIMARY KEY (policy_id, key)
);

-- kind 'file': an uploaded CSV or JSON file (blob_id set);
-- kind 'sql': a connection to an external database (password in secrets).
CREATE TABLE datasources (
	id           TEXT PRIMARY KEY,
	owner_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	kind         TEXT NOT NULL CHECK (kind IN ('file', 'sql')),
	format       TEXT NOT NULL DEFAULT '',
	filename     TEXT NOT NULL DEFAULT '',
	blob_id      TEXT REFERENCES blobs(id),
	size         INTEGER NOT NULL DEFAULT 0,
	sql_driver   TEXT NOT NULL DEFAULT '',
	sql_host     TEXT NOT NULL DEFAULT '',
	sql_port     INTEGER NOT NULL DEFAULT 0,
	sql_database TEXT NOT NULL DEFAULT '',
	sql_user     TEXT NOT NULL DEFAULT '',
	sql_query    TEXT NOT NULL DEFAULT '',
	secret_id    TEXT REFERENCES secrets(id),
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL
);

CREATE TABLE workflows (
	id          TEXT PRIMARY KEY,
	owner_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	graph       TEXT NOT NULL,             -- JSON: {"elements":[...],"edges":[...]}
	exportables TEXT NOT NULL DEFAULT '[]', -- JSON array of column names
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);

CREATE TABLE workflow_policies (
	workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	policy_id   TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	attached_at TEXT NOT NULL,
	PRIMARY KEY (workflow_id, policy_id)
);

-- A run of a workflow and its result set (rows stored as a blob).
CREATE TABLE workflow_runs (
	id             TEXT PRIMARY KEY,
	workflow_id    TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	started_by     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
	progress       REAL NOT NULL DEFAULT 0,
	error          TEXT NOT NULL DEFAULT '',
	result_blob_id TEXT REFERENCES blobs(id),
	result_columns TEXT NOT NULL DEFAULT '[]', -- JSON array of column names
	result_rows    INTEGER NOT NULL DEFAULT 0,
	started_at     TEXT NOT NULL,
	ended_at       TEXT NOT NULL DEFAULT ''
);

CREATE TABLE reports (
	id          TEXT PRIMARY KEY,
	owner_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	charts      TEXT NOT NULL DEFAULT '[]', -- JSON array of charts
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);

CREATE TABLE remote_servers (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	url        TEXT NOT NULL,
	service_id TEXT NOT NULL,
	secret_id  TEXT REFERENCES secrets(id),
	enabled    INTEGER NOT NULL DEFAULT 1,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);

-- E-mail settings: a single row (id = 1).
CREATE TABLE email_settings (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	smtp_from  TEXT NOT NULL DEFAULT '',
	smtp_host  TEXT NOT NULL DEFAULT '',
	smtp_port  INTEGER NOT NULL DEFAULT 0,
	smtp_user  TEXT NOT NULL DEFAULT '',
	secret_id  TEXT REFERENCES secrets(id),
	enabled    INTEGER NOT NULL DEFAULT 1,
	updated_at TEXT NOT NULL
);

-- Append-only and hash-chained: see bitnobi.AuditEntry.ComputeHash. Actor
-- columns are plain text, not foreign keys, so deleting a user keeps history.
CREATE TABLE audit_log (
	seq         INTEGER PRIMARY KEY,
	at          TEXT NOT NULL,
	actor_id    TEXT NOT NULL DEFAULT '',
	actor_name  TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL,
	target_type TEXT NOT NULL DEFAULT '',
	target_id   TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	remote_addr TEXT NOT NULL DEFAULT '',
	remote_user TEXT NOT NULL DEFAULT '',
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log(actor_id, seq);
CREATE INDEX audit_log_action ON audit_log(action, seq);
CREATE INDEX audit_log_at ON audit_log(at);
