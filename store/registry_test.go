package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// importTable creates a table with an INTEGER primary key and cols-1 more
// columns of each type in turn, and returns its description.
func importTable(t *testing.T, db *store.DB, name string, cols int) store.Table {
	t.Helper()
	ctx := context.Background()
	tbl := store.Table{Name: name, PrimaryKey: []string{"id"}, Columns: []store.Column{{Name: "id", Type: "INTEGER"}}}
	ddl := []string{"id BIGINT PRIMARY KEY"}
	for i := 1; i < cols; i++ {
		typ, sqlType := "TEXT", "TEXT"
		switch i % 3 {
		case 1:
			typ, sqlType = "INTEGER", "BIGINT"
		case 2:
			typ, sqlType = "REAL", "DOUBLE PRECISION"
		}
		c := fmt.Sprintf("c%d", i)
		tbl.Columns = append(tbl.Columns, store.Column{Name: c, Type: typ})
		ddl = append(ddl, c+" "+sqlType)
	}
	if _, err := db.Write.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", name, strings.Join(ddl, ", "))); err != nil {
		t.Fatal(err)
	}
	return tbl
}

// importRow returns row i of a table made by importTable: id i, and values
// derived from i, every seventh one NULL.
func importRow(tbl store.Table, i int) []any {
	row := make([]any, len(tbl.Columns))
	row[0] = int64(i)
	for k := 1; k < len(row); k++ {
		switch {
		case (i+k)%7 == 0:
		case tbl.Columns[k].Type == "TEXT":
			row[k] = fmt.Sprintf("r%d c%d 'quoted' \"and\" ? marks", i, k)
		case tbl.Columns[k].Type == "INTEGER":
			row[k] = int64(i*1000 + k)
		default:
			row[k] = float64(i) + float64(k)/8
		}
	}
	return row
}

func TestImporter(t *testing.T) { dbtest.Run(t, testImporter) }

// testImporter inserts row counts around the batch size (100 rows for a
// narrow table; 32,766 parameters / 400 columns = 81 rows for a wide one)
// and reads every row back.
func testImporter(t *testing.T, engine string) {
	ctx := context.Background()
	db := dbtest.Open(t, engine)
	for _, tt := range []struct {
		cols int
		rows []int
	}{
		{4, []int{0, 1, 99, 100, 101, 250}},
		{400, []int{80, 81, 82, 163}},
	} {
		for _, n := range tt.rows {
			t.Run(fmt.Sprintf("%dColumns/%dRows", tt.cols, n), func(t *testing.T) {
				tbl := importTable(t, db, fmt.Sprintf("import_%d_%d", tt.cols, n), tt.cols)
				err := db.WriteTx(ctx, func(tx *store.Tx) error {
					im, err := db.NewImporter(ctx, tx, tbl)
					if err != nil {
						return err
					}
					for i := 1; i <= n; i++ {
						if err := im.Insert(ctx, importRow(tbl, i)); err != nil {
							im.Close()
							return err
						}
					}
					if err := im.Flush(ctx); err != nil {
						im.Close()
						return err
					}
					if got, want := im.Count(), int64(n); got != want {
						t.Errorf("Count()=%d, want %d", got, want)
					}
					return im.Close()
				})
				if err != nil {
					t.Fatal(err)
				}
				got := 0
				err = db.ReadTx(ctx, func(tx *store.Tx) error {
					return db.ExportRows(ctx, tx, tbl, func(row []any) error {
						got++
						if want := importRow(tbl, got); fmt.Sprint(row) != fmt.Sprint(want) {
							return fmt.Errorf("row %d: %v, want %v", got, row, want)
						}
						return nil
					})
				})
				if err != nil {
					t.Fatal(err)
				}
				if got != n {
					t.Fatalf("read %d rows back, want %d", got, n)
				}
			})
		}
	}
}

func TestImporter_Errors(t *testing.T) { dbtest.Run(t, testImporter_Errors) }

// testImporter_Errors checks that errors name the table and the row (a
// value that does not fit its column), or the rows of the batch that the
// database refused, whether it is a full batch written by Insert or the
// last rows written by Close.
func testImporter_Errors(t *testing.T, engine string) {
	ctx := context.Background()
	db := dbtest.Open(t, engine)
	for _, tt := range []struct {
		name    string
		rows    []int // ids to insert, in order
		badType int   // 1-based row whose first INTEGER column gets a string; 0: none
		want    string
		atClose bool // the error comes from Close, not from Insert
	}{
		{"BadValue", []int{1, 2, 3}, 2, "import err_badvalue.c1: row 2: value", false},
		{"DuplicateInFullBatch", append(append(seq(1, 150), 20), seq(152, 200)...), 0, "import err_duplicateinfullbatch: rows 101-200:", false},
		{"DuplicateInLastBatch", append(seq(1, 120), 7), 0, "import err_duplicateinlastbatch: rows 101-121:", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tbl := importTable(t, db, "err_"+strings.ToLower(tt.name), 4)
			var insertErr, closeErr error
			err := db.WriteTx(ctx, func(tx *store.Tx) error {
				im, err := db.NewImporter(ctx, tx, tbl)
				if err != nil {
					return err
				}
				for k, id := range tt.rows {
					row := importRow(tbl, id)
					if k+1 == tt.badType {
						row[1] = "not a number"
					}
					if insertErr = im.Insert(ctx, row); insertErr != nil {
						break
					}
				}
				closeErr = im.Close()
				return errors.New("roll back")
			})
			if err == nil || err.Error() != "roll back" {
				t.Fatalf("WriteTx: %v", err)
			}
			got := insertErr
			if tt.atClose {
				if insertErr != nil {
					t.Fatalf("Insert: %v, want no error before Close", insertErr)
				}
				got = closeErr
			}
			if got == nil || !strings.HasPrefix(got.Error(), tt.want) {
				t.Fatalf("error %v, want one starting %q", got, tt.want)
			}
		})
	}
}

// seq returns from, from+1, ..., to.
func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// BenchmarkImporter inserts 100,000 rows shaped like audit entries (12
// columns) into the audit_log of a new database opened as a restore's
// staging database is, in one transaction, and reports rows/s.
func BenchmarkImporter(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{
			int64(i + 1), fmt.Sprintf("2025-01-01T00:%02d:%02d.000000Z", i/60%60, i%60),
			fmt.Sprintf("%032x", i%400), fmt.Sprintf("user%d", i%400), "datasource.access", "datasource",
			fmt.Sprintf("%032x", i%900), fmt.Sprintf(`{"name":"sales 2024-%02d north","owner_id":"%032x"}`, i%12+1, i%400),
			fmt.Sprintf("10.0.%d.%d", i%7, i%250+1), "", fmt.Sprintf("%064x", i), fmt.Sprintf("%064x", i+1),
		}
	}
	for b.Loop() {
		b.StopTimer()
		db, err := sqlite.OpenStaging(ctx, filepath.Join(b.TempDir(), "bitnobi.db"))
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		tables, err := db.StateTables(ctx, db.Read)
		if err != nil {
			b.Fatal(err)
		}
		var audit store.Table
		for _, t := range tables {
			if t.Name == "audit_log" {
				audit = t
			}
		}
		b.StartTimer()
		err = db.WriteTx(ctx, func(tx *store.Tx) error {
			rebuild, err := db.DeferIndexes(ctx, tx)
			if err != nil {
				return err
			}
			im, err := db.NewImporter(ctx, tx, audit)
			if err != nil {
				return err
			}
			for _, row := range rows {
				if err := im.Insert(ctx, row); err != nil {
					im.Close()
					return err
				}
			}
			if err := im.Close(); err != nil {
				return err
			}
			return rebuild()
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
