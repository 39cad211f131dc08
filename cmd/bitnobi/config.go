package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/fsutil"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// Environment variables the commands read.
const (
	EnvDataDir   = "BITNOBI_DATA_DIR"        // default for --data-dir
	EnvKeyFile   = "BITNOBI_MASTER_KEY_FILE" // master key path (default DATA_DIR/master.key)
	EnvBackupDir = "BITNOBI_BACKUP_DIR"      // default for --backup-dir
	EnvListen    = "BITNOBI_LISTEN"          // default for --listen
	EnvDB        = "BITNOBI_DB"              // default for --db
	EnvPriority  = "BITNOBI_BACKUP_PRIORITY" // default for --priority of backup, backups verify and export
	// EnvSessionLifetime is the default for serve --session-lifetime.
	EnvSessionLifetime = "BITNOBI_SESSION_LIFETIME"
	// EnvSessionIdle is the default for serve --session-idle.
	EnvSessionIdle = "BITNOBI_SESSION_IDLE"
)

// DefaultDataDir is the data directory when neither --data-dir nor
// BITNOBI_DATA_DIR is given. The default backup folder is "backup" beside
// it, so one folder ./bitnobi holds data/ and backup/ side by side, apart
// from a checkout's source folders (the backup package's is ./backup).
const DefaultDataDir = "./bitnobi/data"

// LegacyDataDir is the default data directory of earlier versions. When
// it exists and [DefaultDataDir] does not, it stays the default, with a
// notice on stderr, so that an existing installation keeps working.
const LegacyDataDir = "./bitnobi-data"

// dataDirFlag adds --data-dir to fs, defaulting to $BITNOBI_DATA_DIR or
// [DefaultDataDir] (see [LegacyDataDir]).
func (m *Main) dataDirFlag(fs *flag.FlagSet) *string {
	def := m.Getenv(EnvDataDir)
	if def == "" {
		def = m.defaultDataDir()
	}
	return fs.String("data-dir", def, "data directory (env "+EnvDataDir+")")
}

// defaultDataDir returns [DefaultDataDir], or [LegacyDataDir] when that
// holds an installation and the new default does not; the first time it
// falls back, it says so on stderr.
func (m *Main) defaultDataDir() string {
	if _, err := os.Stat(DefaultDataDir); err == nil {
		return DefaultDataDir
	}
	if fi, err := os.Stat(LegacyDataDir); err != nil || !fi.IsDir() {
		return DefaultDataDir
	}
	if !m.legacyNoticed {
		m.legacyNoticed = true
		fmt.Fprintf(m.Stderr, "Notice: using %s, the default data directory of earlier versions (backups in ./backup).\n"+
			"Try: move it to %s and ./backup's backups to ./bitnobi/backup, or pass --data-dir\n", LegacyDataDir, DefaultDataDir)
	}
	return LegacyDataDir
}

// dbFlag adds --db to fs: a PostgreSQL URL, or "" for the embedded SQLite
// database in the data directory. Blobs and the master key stay in the
// data directory either way. Resolve it with [Main.dbURL]. (No default is
// shown: $BITNOBI_DB may hold a password.)
func (m *Main) dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "PostgreSQL database, postgres://USER@HOST:PORT/DBNAME (env "+EnvDB+`; default: SQLite in the data directory).
Give the password in `+EnvDB+", PGPASSWORD or ~/.pgpass, not on the command line")
}

// dbURL resolves the database: --db, else $BITNOBI_DB. It refuses a
// password in --db, where every user of the machine can read it (ps).
func (m *Main) dbURL(flagValue string) (string, error) {
	pw := strings.Contains(flagValue, "password=")
	if u, err := url.Parse(flagValue); err == nil && u.User != nil {
		_, set := u.User.Password()
		pw = pw || set
	}
	if pw {
		return "", usagef(EnvDB+"='postgres://...' bitnobi serve",
			"--db holds a password, which the command line shows to every user of the machine: give the URL in %s instead, or the password in PGPASSWORD or ~/.pgpass", EnvDB)
	}
	if flagValue != "" {
		return flagValue, nil
	}
	return m.Getenv(EnvDB), nil
}

// backupDirFlag adds --backup-dir to fs. Its default, "", means
// $BITNOBI_BACKUP_DIR or else a folder named "backup" beside the data
// directory (never inside it); resolve it with [Main.backupDir].
func (m *Main) backupDirFlag(fs *flag.FlagSet) *string {
	return fs.String("backup-dir", "", `backup folder (env `+EnvBackupDir+`; default: "backup" beside the data directory)`)
}

// backupDir resolves the backup folder: the flag, the environment, or
// "backup" beside dataDir.
func (m *Main) backupDir(flagValue, dataDir string) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = m.Getenv(EnvBackupDir)
	}
	if dir == "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return "", err
		}
		dir = filepath.Join(filepath.Dir(abs), "backup")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	if fsutil.Within(abs, absData) {
		return "", usagef("--backup-dir "+filepath.Join(filepath.Dir(absData), "backup"),
			"backup folder %s is inside the data directory %s: a backup must not live with the state it protects", abs, absData)
	}
	return abs, nil
}

// keyFile is the master key's path: $BITNOBI_MASTER_KEY_FILE or the one in
// the data directory.
func (m *Main) keyFile(dir datadir.Dir) string {
	if p := m.Getenv(EnvKeyFile); p != "" {
		return p
	}
	return dir.Key()
}

// app is an opened data directory: the database with its blob store and
// master key.
type app struct {
	Dir   datadir.Dir
	DB    *store.DB
	Blobs *blob.Store
	Key   secret.Key
}

// openApp opens the data directory dir, creating it (mode 0700), the
// master key and the database on first start when create is set; the
// database is migrated to the binary's schema. The database is the SQLite
// file in dir, or the PostgreSQL database dsn when that is not empty.
func (m *Main) openApp(ctx context.Context, dir datadir.Dir, dsn string, create bool) (*app, error) {
	if _, err := os.Stat(dir.DB()); dsn == "" && errors.Is(err, os.ErrNotExist) && !create {
		return nil, usagef("bitnobi serve --data-dir "+dir.Path(), "no Bitnobi database in %s", dir.Path())
	}
	if err := os.MkdirAll(dir.Path(), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	var key secret.Key
	var err error
	if create {
		key, _, err = secret.LoadOrCreateKeyFile(m.keyFile(dir))
	} else {
		key, err = secret.ReadKeyFile(m.keyFile(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	var db *store.DB
	if dsn != "" {
		db, err = postgres.Open(ctx, dsn)
	} else {
		db, err = sqlite.Open(ctx, dir.DB())
	}
	if err != nil {
		return nil, err
	}
	blobs := blob.NewStore(dir.Blobs())
	db.Key, db.Blobs = key, blobs
	return &app{Dir: dir, DB: db, Blobs: blobs, Key: key}, nil
}

// Close closes the database.
func (a *app) Close() error { return a.DB.Close() }

// openExisting opens the database without migrating it, for commands that
// only read (audit verify, version, backups diff ... live): the PostgreSQL
// database dsn, with application_name app, or else the SQLite database of
// dir, which it refuses, rather than creates, when missing.
func openExisting(ctx context.Context, dir datadir.Dir, dsn, app string) (*store.DB, error) {
	if dsn != "" {
		return postgres.OpenWith(ctx, dsn, postgres.Options{ApplicationName: app})
	}
	if _, err := os.Stat(dir.DB()); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usagef("--data-dir PATH (or "+EnvDataDir+")", "no Bitnobi database in %s", dir.Path())
		}
		return nil, err
	}
	return sqlite.OpenNoMigrate(ctx, dir.DB())
}
