-- 0005 on PostgreSQL: ../0005_python_settings.sql, with the change-stamp
-- trigger of 0002.
CREATE TABLE python_settings (
	id           BIGINT PRIMARY KEY CHECK (id = 1),
	enabled      BIGINT NOT NULL DEFAULT 0,
	cpu_seconds  BIGINT NOT NULL DEFAULT 0,
	memory_mb    BIGINT NOT NULL DEFAULT 0,
	output_mb    BIGINT NOT NULL DEFAULT 0,
	wall_seconds BIGINT NOT NULL DEFAULT 0,
	updated_at   TEXT COLLATE "C" NOT NULL
);

INSERT INTO table_changes (name, stamp) VALUES ('python_settings', replace(gen_random_uuid()::text, '-', ''));

CREATE TRIGGER python_settings_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON python_settings
	FOR EACH STATEMENT EXECUTE FUNCTION bitnobi_stamp_table();
