package workflow_test

import (
	"context"
	"database/sql"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// The servers the SQL tests query: scripts/with-postgres.sh and
// scripts/with-mariadb.sh start them and set these variables.
const (
	envPostgres         = "BITNOBI_TEST_POSTGRES"
	envPostgresRequired = "BITNOBI_TEST_POSTGRES_REQUIRED"
	envMariaDB          = "BITNOBI_TEST_MARIADB"
	envMariaDBRequired  = "BITNOBI_TEST_MARIADB_REQUIRED"
)

// sqlServer is a test database and a data source that reaches it.
type sqlServer struct {
	db   *sql.DB // the test's own connection, to set up tables
	ds   bitnobi.DataSource
	pass string
	// sleep is a query that never ends in this dialect.
	sleep string
}

func needEnv(t *testing.T, env, required, script string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv(required) == "1" {
			t.Fatalf("%s is not set but %s=1", env, required)
		}
		t.Skipf("%s is not set: run the test under bash %s", env, script)
	}
	return v
}

func postgresServer(t *testing.T) *sqlServer {
	dsn := needEnv(t, envPostgres, envPostgresRequired, "scripts/with-postgres.sh")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pass, _ := u.User.Password()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqlServer{db: db, pass: pass, sleep: "SELECT pg_sleep(3600)", ds: bitnobi.DataSource{
		Name: "pg", Kind: bitnobi.DataSourceSQL, Driver: "postgres", Host: u.Hostname(), Port: port,
		Database: strings.TrimPrefix(u.Path, "/"), User: u.User.Username(),
	}}
}

func mariaDBServer(t *testing.T) *sqlServer {
	dsn := needEnv(t, envMariaDB, envMariaDBRequired, "scripts/with-mariadb.sh")
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(cfg.Addr)
	port, _ := strconv.Atoi(portText)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqlServer{db: db, pass: cfg.Passwd, sleep: "SELECT SLEEP(3600)", ds: bitnobi.DataSource{
		Name: "maria", Kind: bitnobi.DataSourceSQL, Driver: "mysql", Host: host, Port: port,
		Database: cfg.DBName, User: cfg.User,
	}}
}

func TestSQLPostgres(t *testing.T) { testSQL(t, postgresServer(t)) }
func TestSQLMariaDB(t *testing.T)  { testSQL(t, mariaDBServer(t)) }

func testSQL(t *testing.T, s *sqlServer) {
	ctx := context.Background()
	table := "sqlsrc_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, q := range []string{
		"CREATE TABLE " + table + " (id INTEGER, name VARCHAR(20), score DOUBLE PRECISION, price DECIMAL(6,2), seen DATE)",
		"INSERT INTO " + table + " VALUES (1, 'ann', 1.5, 10.25, '2024-01-02'), (2, 'bob', NULL, 3.00, NULL), (3, NULL, -2, 0.5, '2025-12-31')",
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { s.db.Exec("DROP TABLE " + table) })

	query := func(t *testing.T, ds bitnobi.DataSource, pass string, lim workflow.SQLLimits) ([]string, [][]any, error) {
		t.Helper()
		rows, err := workflow.QuerySQL(ctx, &workflow.SQLSource{DataSource: &ds, Password: pass, Limits: lim})
		if err != nil {
			return nil, nil, err
		}
		cols := rows.Columns()
		out, err := workflow.ReadAll(rows)
		return cols, out, err
	}
	quick := workflow.SQLLimits{ConnectTimeout: 2 * time.Second, QueryTimeout: 2 * time.Second, MaxRows: 100}
	// wantFail checks that err is a user-facing error saying want, and
	// that it came promptly.
	wantFail := func(t *testing.T, start time.Time, err error, want string) {
		t.Helper()
		if err == nil || bitnobi.ErrorCode(err) == bitnobi.EINTERNAL || !strings.Contains(bitnobi.ErrorMessage(err), want) {
			t.Fatalf("err=%v, want a user-facing error saying %q", err, want)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Fatalf("the error took %s", d)
		}
	}

	t.Run("OK", func(t *testing.T) {
		ds := s.ds
		ds.Query = "SELECT id, name, score, price, seen FROM " + table + " ORDER BY id"
		cols, rows, err := query(t, ds, s.pass, quick)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"id", "name", "score", "price", "seen"}; !reflect.DeepEqual(cols, want) {
			t.Errorf("columns=%q, want %q", cols, want)
		}
		if len(rows) != 3 {
			t.Fatalf("rows=%v", rows)
		}
		if got, want := rows[0][:4], []any{int64(1), "ann", 1.5, "10.25"}; !reflect.DeepEqual(got, want) {
			t.Errorf("row 1=%#v, want %#v", got, want)
		}
		if !strings.HasPrefix(rows[0][4].(string), "2024-01-02") {
			t.Errorf("date=%#v", rows[0][4])
		}
		if rows[1][2] != nil || rows[2][1] != nil || rows[1][4] != nil {
			t.Errorf("nulls: %#v", rows)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		ds := s.ds
		ds.Query = "DELETE FROM " + table
		start := time.Now()
		_, _, err := query(t, ds, s.pass, quick)
		wantFail(t, start, err, "only reads")
		var n int
		if err := s.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != 3 {
			t.Fatalf("the table has %d rows (%v) after the refused delete", n, err)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		ds := s.ds
		ds.Query = "SELECT 1"
		start := time.Now()
		_, _, err := query(t, ds, s.pass+"-wrong", quick)
		wantFail(t, start, err, "refused the user name or password")
	})
	t.Run("ConnectionRefused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ds := s.ds
		ds.Port = ln.Addr().(*net.TCPAddr).Port
		ln.Close() // nothing listens there now
		ds.Query = "SELECT 1"
		start := time.Now()
		_, _, err = query(t, ds, s.pass, quick)
		wantFail(t, start, err, "could not connect")
	})
	t.Run("SilentHost", func(t *testing.T) {
		// A server that accepts the connection and never answers: the
		// connect timeout ends the wait.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		ds := s.ds
		ds.Port = ln.Addr().(*net.TCPAddr).Port
		ds.Query = "SELECT 1"
		start := time.Now()
		_, _, err = query(t, ds, s.pass, quick)
		wantFail(t, start, err, "within 2s")
	})
	t.Run("EndlessQuery", func(t *testing.T) {
		ds := s.ds
		ds.Query = s.sleep
		start := time.Now()
		_, _, err := query(t, ds, s.pass, quick)
		wantFail(t, start, err, "longer than 2s")
	})
	t.Run("TooManyRows", func(t *testing.T) {
		ds := s.ds
		ds.Query = "SELECT a.id FROM " + table + " a, " + table + " b"
		lim := quick
		lim.MaxRows = 5
		start := time.Now()
		_, _, err := query(t, ds, s.pass, lim)
		wantFail(t, start, err, "more than 5 rows")
	})
}
