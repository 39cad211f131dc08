package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/store"
)

const versionHelp = `Usage: bitnobi version [flags]

Prints the app version, the schema version this binary migrates to and the
backup format it writes. When the data directory holds a database (or with
--db, the PostgreSQL database), also its schema version and instance ID.
`

func (m *Main) runVersion(ctx context.Context, args []string) error {
	fs := m.newFlagSet("version", versionHelp)
	dataDir := m.dataDirFlag(fs)
	dbFlag := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	info := bitnobi.VersionInfo{
		AppVersion:   bitnobi.Version,
		LatestSchema: store.LatestSchemaVersion(),
		Engine:       "sqlite",
		BackupFormat: format.FormatVersion,
	}
	dir := datadir.Dir(*dataDir)
	if _, err := os.Stat(dir.DB()); err == nil || dsn != "" {
		db, err := openExisting(ctx, dir, dsn, "bitnobi version")
		if err != nil {
			return err
		}
		defer db.Close()
		if info, err = versionInfo(ctx, db); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "app version\t%s\n", info.AppVersion)
	fmt.Fprintf(tw, "schema version (binary)\t%d\n", info.LatestSchema)
	if info.SchemaVersion > 0 {
		fmt.Fprintf(tw, "schema version (database)\t%d\n", info.SchemaVersion)
		fmt.Fprintf(tw, "instance id\t%s\n", info.InstanceID)
	}
	fmt.Fprintf(tw, "database engine\t%s\n", info.Engine)
	fmt.Fprintf(tw, "backup format\t%d\n", info.BackupFormat)
	return tw.Flush()
}

// versionInfo reports the versions of the binary and of db.
func versionInfo(ctx context.Context, db *store.DB) (bitnobi.VersionInfo, error) {
	sv, err := db.SchemaVersion(ctx)
	if err != nil {
		return bitnobi.VersionInfo{}, err
	}
	id, err := db.Meta(ctx, store.MetaInstanceID)
	if err != nil {
		return bitnobi.VersionInfo{}, err
	}
	return bitnobi.VersionInfo{
		AppVersion:    bitnobi.Version,
		SchemaVersion: sv,
		LatestSchema:  store.LatestSchemaVersion(),
		Engine:        db.Dialect.Name(),
		InstanceID:    id,
		BackupFormat:  format.FormatVersion,
	}, nil
}
