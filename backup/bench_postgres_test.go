package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
)

// The PostgreSQL benchmarks back up and restore an installation whose
// audit log holds a million chained entries; they need PostgreSQL
// (skipped without BITNOBI_TEST_POSTGRES):
//
//	bash scripts/with-postgres.sh go test -run '^$' -bench Postgres -benchtime 1x ./backup/
//
// Backup reads the rows in one REPEATABLE READ transaction; restore loads
// them with COPY into a staging schema of a new database, migrates,
// verifies the whole audit chain and switches schemas.

const benchPostgresAuditRows = 1_000_000

// benchPostgresDataDir returns a data directory on a new PostgreSQL
// database whose audit log holds n chained entries, copied in with COPY
// (the fixture, not what is measured), and the database's DSN.
func benchPostgresDataDir(b *testing.B, n int) (*backuptest.DataDir, string) {
	b.Helper()
	ctx := context.Background()
	d, dsn := backuptest.NewDataDirOn(b, filepath.Join(b.TempDir(), "data"), dbtest.Postgres)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cols := []string{"seq", "at", "actor_id", "actor_name", "action", "target_type", "target_id", "detail", "remote_addr", "remote_user", "prev_hash", "hash"}
	prev := ""
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		i++
		e := bitnobi.AuditEntry{
			Seq: int64(i), At: at.Add(time.Duration(i) * 17 * time.Second),
			ActorID: fmt.Sprintf("%032x", i%400), ActorName: fmt.Sprintf("user%d", i%400),
			Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: fmt.Sprintf("%032x", i%900),
			Detail:     fmt.Sprintf(`{"name":"sales 2024-%02d north","owner_id":"%032x"}`, i%12+1, i%400),
			RemoteAddr: fmt.Sprintf("10.0.%d.%d", i%7, i%250+1), PrevHash: prev,
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		return []any{e.Seq, bitnobi.FormatTime(e.At), e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Detail,
			e.RemoteAddr, e.RemoteUser, e.PrevHash, e.Hash}, nil
	})
	conn, err := d.DB.Write.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"audit_log"}, cols, src)
		return err
	})
	if err != nil {
		b.Fatalf("copy audit rows: %v", err)
	}
	if _, err := d.DB.Write.ExecContext(ctx, `ANALYZE audit_log`); err != nil {
		b.Fatal(err)
	}
	return d, dsn
}

func BenchmarkCreate_AuditRowsPostgres(b *testing.B) {
	d, dsn := benchPostgresDataDir(b, benchPostgresAuditRows)
	root := b.TempDir()
	i := 0
	for b.Loop() {
		folder := filepath.Join(root, fmt.Sprint(i))
		i++
		if _, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder, OpenDB: backuptest.OpenDB(dsn)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchPostgresAuditRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkRestore_AuditRowsPostgres(b *testing.B) {
	d, dsn := benchPostgresDataDir(b, benchPostgresAuditRows)
	res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(b.TempDir(), "backup"), OpenDB: backuptest.OpenDB(dsn)})
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	i := 0
	for b.Loop() {
		b.StopTimer()
		target := filepath.Join(root, fmt.Sprint(i))
		i++
		tdsn := dbtest.NewPostgresDatabase(b)
		b.StartTimer()
		_, err := backup.Restore(context.Background(), backup.RestoreOptions{
			Backup:  res.Path,
			DataDir: target,
			Local:   sqlite.Local{},
			KeyFile: d.Dir.Key(), Target: &postgres.RestoreTarget{DSN: tdsn},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(target)
		b.StartTimer()
	}
	b.ReportMetric(float64(benchPostgresAuditRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
