package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/seed"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// The benchmarks below measure the hot paths of a backup and a restore
// through the public API, on a data directory holding one kind of state:
//
//	go test -run '^$' -bench . -benchtime 1x ./backup/
//
// Table rows: a 100,000-entry audit log (rows/s of export into a backup
// and of import by a restore). Blobs: one 64 MiB blob of generated CSV
// (compressed on the way) and one of random bytes (stored as is), in MB/s.
// Each iteration writes a new backup into an empty folder, or restores
// into an empty directory, so nothing is hard-linked from an earlier one.

const (
	benchAuditRows = 100_000
	benchBlobSize  = 64 << 20
)

// benchAuditDataDir returns a data directory whose audit log holds n
// chained entries, inserted directly (the fixture, not what is measured).
func benchAuditDataDir(b *testing.B, n int) *backuptest.DataDir {
	b.Helper()
	ctx := context.Background()
	d := backuptest.NewDataDir(b, filepath.Join(b.TempDir(), "data"))
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := d.DB.WriteTx(ctx, func(tx *store.Tx) error {
		tables, err := d.DB.StateTables(ctx, tx)
		if err != nil {
			return err
		}
		var audit store.Table
		for _, t := range tables {
			if t.Name == "audit_log" {
				audit = t
			}
		}
		im, err := d.DB.NewImporter(ctx, tx, audit)
		if err != nil {
			return err
		}
		prev := ""
		for i := 1; i <= n; i++ {
			e := benchAuditEntry(i, at, prev)
			prev = e.Hash
			row := make([]any, len(audit.Columns))
			for k, c := range audit.Columns {
				row[k] = map[string]any{
					"seq": e.Seq, "at": bitnobi.FormatTime(e.At), "actor_id": e.ActorID, "actor_name": e.ActorName,
					"action": e.Action, "target_type": e.TargetType, "target_id": e.TargetID, "detail": e.Detail,
					"remote_addr": e.RemoteAddr, "remote_user": e.RemoteUser, "prev_hash": e.PrevHash, "hash": e.Hash,
				}[c.Name]
			}
			if err := im.Insert(ctx, row); err != nil {
				im.Close()
				return err
			}
		}
		return im.Close()
	})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchBlobDataDir returns a data directory holding one blob of each
// content.
func benchBlobDataDir(b *testing.B, contents ...[]byte) *backuptest.DataDir {
	b.Helper()
	d := backuptest.NewDataDir(b, filepath.Join(b.TempDir(), "data"))
	putBlobs(b, d, contents...)
	return d
}

func benchCSV(b *testing.B, size int) []byte {
	b.Helper()
	var buf bytes.Buffer
	if _, err := seed.WriteCSV(&buf, 1, int64(size)); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()[:size]
}

func benchRandom(size int) []byte {
	p := make([]byte, size)
	rand.Read(p)
	return p
}

// benchCreate backs d up into a new folder once per iteration and
// returns the last backup.
func benchCreate(b *testing.B, d *backuptest.DataDir) *backup.Result {
	b.Helper()
	root := b.TempDir()
	var res *backup.Result
	i := 0
	for b.Loop() {
		folder := filepath.Join(root, fmt.Sprint(i))
		i++
		var err error
		if res, err = backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder}); err != nil {
			b.Fatal(err)
		}
	}
	return res
}

// benchRestore restores the backup at dir into a new data directory once
// per iteration.
func benchRestore(b *testing.B, dir, keyFile string) {
	b.Helper()
	root := b.TempDir()
	i := 0
	for b.Loop() {
		target := filepath.Join(root, fmt.Sprint(i))
		i++
		if _, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: dir, DataDir: target, Local: sqlite.Local{}, KeyFile: keyFile}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(target)
		b.StartTimer()
	}
}

func BenchmarkCreate_AuditRows(b *testing.B) {
	d := benchAuditDataDir(b, benchAuditRows)
	benchCreate(b, d)
	b.ReportMetric(float64(benchAuditRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkRestore_AuditRows(b *testing.B) {
	d := benchAuditDataDir(b, benchAuditRows)
	res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(b.TempDir(), "backup")})
	if err != nil {
		b.Fatal(err)
	}
	benchRestore(b, res.Path, d.Dir.Key())
	b.ReportMetric(float64(benchAuditRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRestore_RowsAndBlob restores the audit rows of
// BenchmarkRestore_AuditRows and the 64 MiB CSV blob of
// BenchmarkRestore_Blob from one backup: the state of a real data
// directory, whose tables and blobs a restore may load side by side. It
// reports rows/s and the blob's MB/s over the whole restore.
func BenchmarkRestore_RowsAndBlob(b *testing.B) {
	d := benchAuditDataDir(b, benchAuditRows)
	ctx := context.Background()
	putBlobs(b, d, benchCSV(b, benchBlobSize))
	res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(b.TempDir(), "backup")})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchBlobSize)
	benchRestore(b, res.Path, d.Dir.Key())
	b.ReportMetric(float64(benchAuditRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkCreate_Blob(b *testing.B) {
	for _, in := range benchBlobInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			d := benchBlobDataDir(b, in.data())
			b.SetBytes(benchBlobSize)
			res := benchCreate(b, d)
			st := res.Manifest.Stats
			b.ReportMetric(float64(st.BytesWritten)/float64(st.BlobBytes), "written/raw")
		})
	}
}

// BenchmarkCreate_SmallBlobs backs up 64 CSV blobs of 512 KiB each
// (32 MiB): blobs that fit in the compression sample.
func BenchmarkCreate_SmallBlobs(b *testing.B) {
	const n, size = 64, 512 << 10
	all := benchCSV(b, n*size+n)
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = all[i*(size+1) : i*(size+1)+size] // distinct blobs
	}
	d := benchBlobDataDir(b, contents...)
	b.SetBytes(n * size)
	benchCreate(b, d)
}

// benchMidBlobs returns 24 distinct CSV blobs of 1 to 4 MiB (60 MiB in
// all), the sizes most uploads have, and their total size.
func benchMidBlobs(b *testing.B) ([][]byte, int64) {
	b.Helper()
	const n = 24
	all := benchCSV(b, 64<<20)
	contents := make([][]byte, n)
	var off, total int
	for i := range contents {
		size := (i%4 + 1) << 20
		contents[i] = all[off : off+size]
		off += size + 1 // distinct blobs
		total += size
	}
	return contents, int64(total)
}

// BenchmarkCreate_MidBlobs backs up 24 CSV blobs of 1 to 4 MiB: as large
// as the compression sample or larger, so each is its sample's zstd
// frame and, but for the 1 MiB ones, the rest streamed through zstd.
func BenchmarkCreate_MidBlobs(b *testing.B) {
	contents, total := benchMidBlobs(b)
	d := benchBlobDataDir(b, contents...)
	b.SetBytes(total)
	benchCreate(b, d)
}

// BenchmarkCreate_Mixed backs up a state of both kinds: a 100,000-entry
// audit log and the blobs of BenchmarkCreate_MidBlobs, as a real data
// directory holds. Bytes are the blobs' only.
func BenchmarkCreate_Mixed(b *testing.B) {
	d := benchAuditDataDir(b, benchAuditRows)
	contents, total := benchMidBlobs(b)
	putBlobs(b, d, contents...)
	b.SetBytes(total)
	benchCreate(b, d)
}

func BenchmarkRestore_Blob(b *testing.B) {
	for _, in := range benchBlobInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			d := benchBlobDataDir(b, in.data())
			res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(b.TempDir(), "backup")})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(benchBlobSize)
			benchRestore(b, res.Path, d.Dir.Key())
		})
	}
}

// BenchmarkCreate_Unchanged measures a backup of a data directory that
// has not changed since the previous backup in the folder (a 64 MiB CSV
// blob and 20,000 audit rows; every file hard-linked, none written): the cost of
// a daily backup of a quiet installation.
func BenchmarkCreate_Unchanged(b *testing.B) {
	d := benchAuditDataDir(b, 20_000)
	ctx := context.Background()
	putBlobs(b, d, benchCSV(b, benchBlobSize))
	folder := filepath.Join(b.TempDir(), "backup")
	if _, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder}); err != nil {
		b.Fatal(err)
	}
	var res *backup.Result
	for b.Loop() {
		var err error
		if res, err = backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder}); err != nil {
			b.Fatal(err)
		}
	}
	if st := res.Manifest.Stats; st.FilesWritten != 0 || st.FilesLinked != int64(len(res.Manifest.Files)) {
		b.Fatalf("stats %+v, want every one of the %d files linked", st, len(res.Manifest.Files))
	}
}

// benchAuditEntry is the i-th (from 1) entry of a synthetic audit log
// that starts at at: data-source accesses by 400 users of 900 data
// sources, chained to the entry whose hash is prev.
func benchAuditEntry(i int, at time.Time, prev string) bitnobi.AuditEntry {
	e := bitnobi.AuditEntry{
		Seq: int64(i), At: at.Add(time.Duration(i) * 17 * time.Second),
		ActorID: fmt.Sprintf("%032x", i%400), ActorName: fmt.Sprintf("user%d", i%400),
		Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: fmt.Sprintf("%032x", i%900),
		Detail:     fmt.Sprintf(`{"name":"sales 2024-%02d north","owner_id":"%032x"}`, i%12+1, i%400),
		RemoteAddr: fmt.Sprintf("10.0.%d.%d", i%7, i%250+1), PrevHash: prev,
	}
	e.Hash = e.ComputeHash()
	return e
}

// benchBlobInputs are the contents the blob benchmarks back up: CSV text,
// which compresses, and random bytes, which do not.
func benchBlobInputs(b *testing.B) []struct {
	name string
	data func() []byte
} {
	return []struct {
		name string
		data func() []byte
	}{{"csv", func() []byte { return benchCSV(b, benchBlobSize) }}, {"random", func() []byte { return benchRandom(benchBlobSize) }}}
}

// benchSealedEntries is the audit history of BenchmarkSealed.
const benchSealedEntries = 500_000

// BenchmarkSealed measures a full backup and a restore of one state (an
// audit log of benchSealedEntries entries) twice: with the history in
// audit_log's rows, as before sealing, and then sealed into segments
// (store.DB.SealAudit, default size) with a short live tail. It reports
// the seconds of each and the ratios sealed/unsealed, from one run:
//
//	go test -run '^$' -bench BenchmarkSealed -benchtime 1x ./backup/
//
// The restore of the unsealed backup includes the seal that every
// restore of a history held as rows now does before its switch.
func BenchmarkSealed(b *testing.B) {
	ctx := context.Background()
	d := benchAuditDataDir(b, benchSealedEntries)
	appendAudit(b, d.DB, 100) // a live tail after the last full segment
	root := b.TempDir()
	run := func(name string) (create, restore time.Duration, written int64) {
		start := time.Now()
		res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, name)})
		if err != nil {
			b.Fatal(err)
		}
		create = time.Since(start)
		start = time.Now()
		if _, err := backup.Restore(ctx, backup.RestoreOptions{Backup: res.Path, DataDir: filepath.Join(root, name+"-restored"), Local: sqlite.Local{}, KeyFile: d.Dir.Key()}); err != nil {
			b.Fatal(err)
		}
		restore = time.Since(start)
		os.RemoveAll(filepath.Join(root, name+"-restored"))
		return create, restore, res.Manifest.Stats.BytesWritten
	}
	var cu, ru, cs, rs, seal time.Duration
	var wu, ws int64
	i := 0
	for b.Loop() {
		if i > 0 {
			b.Fatal("run with -benchtime 1x: the state is sealed after the first iteration")
		}
		i++
		cu, ru, wu = run("unsealed")
		b.StopTimer()
		sr, err := d.DB.SealAudit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		seal = sr.Duration
		b.StartTimer()
		cs, rs, ws = run("sealed")
	}
	b.ReportMetric(cu.Seconds(), "create-unsealed-s")
	b.ReportMetric(cs.Seconds(), "create-sealed-s")
	b.ReportMetric(ru.Seconds(), "restore-unsealed-s")
	b.ReportMetric(rs.Seconds(), "restore-sealed-s")
	b.ReportMetric(cs.Seconds()/cu.Seconds(), "create-ratio")
	b.ReportMetric(rs.Seconds()/ru.Seconds(), "restore-ratio")
	b.ReportMetric(seal.Seconds(), "seal-s") // what the unsealed restore also does
	b.ReportMetric(float64(wu)/1e6, "written-unsealed-MB")
	b.ReportMetric(float64(ws)/1e6, "written-sealed-MB")
}
