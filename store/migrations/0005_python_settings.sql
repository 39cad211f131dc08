-- 0005: the administrator's settings for Python elements, a single row
-- (id = 1). No row means Python is off and the limits are the defaults; a
-- zero limit also means its default (bitnobi.PythonSettings).
CREATE TABLE python_settings (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	enabled      INTEGER NOT NULL DEFAULT 0,
	cpu_seconds  INTEGER NOT NULL DEFAULT 0,
	memory_mb    INTEGER NOT NULL DEFAULT 0,
	output_mb    INTEGER NOT NULL DEFAULT 0,
	wall_seconds INTEGER NOT NULL DEFAULT 0,
	updated_at   TEXT NOT NULL
);

-- Change stamps, as 0002 gives every table that holds state.
INSERT INTO table_changes (name, stamp) VALUES ('python_settings', lower(hex(randomblob(16))));

CREATE TRIGGER python_settings_stamp_insert AFTER INSERT ON python_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('python_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER python_settings_stamp_update AFTER UPDATE ON python_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('python_settings', lower(hex(randomblob(16))));
END;

CREATE TRIGGER python_settings_stamp_delete AFTER DELETE ON python_settings BEGIN
	INSERT OR REPLACE INTO table_changes (name, stamp) VALUES ('python_settings', lower(hex(randomblob(16))));
END;
