package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bitnobi/bitnobi"
)

// SQLLimits bound a SQL element's query. Zero fields mean the defaults.
type SQLLimits struct {
	// ConnectTimeout bounds connecting and signing in.
	ConnectTimeout time.Duration
	// QueryTimeout bounds the query, from its start to its last row read.
	QueryTimeout time.Duration
	// MaxRows is the most rows a query may return; more is an error.
	MaxRows int64
}

// Defaults of [SQLLimits].
const (
	DefaultSQLConnectTimeout = 10 * time.Second
	DefaultSQLQueryTimeout   = 5 * time.Minute
	DefaultSQLMaxRows        = 10_000_000
)

func (l SQLLimits) withDefaults() SQLLimits {
	if l.ConnectTimeout <= 0 {
		l.ConnectTimeout = DefaultSQLConnectTimeout
	}
	if l.QueryTimeout <= 0 {
		l.QueryTimeout = DefaultSQLQueryTimeout
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultSQLMaxRows
	}
	return l
}

// SQLSource is what a SQL element queries: a SQL data source, its
// unsealed password, and the limits.
type SQLSource struct {
	DataSource *bitnobi.DataSource
	Password   string
	Limits     SQLLimits
}

// QuerySQL connects to src's database and runs its query in a read-only
// transaction (on a read-only session, where the database has one), and
// returns the rows as they come. Text, dates and decimals become text,
// integers int64, floating-point numbers float64, booleans "true" or
// "false". Closing the rows ends the transaction and the connection.
//
// Read-only is the database's own guard, not a sandbox: give the data
// source a database user that may only read what it should.
func QuerySQL(ctx context.Context, src *SQLSource) (Rows, error) {
	lim := src.Limits.withDefaults()
	ds := src.DataSource
	var db *sql.DB
	var err error
	switch ds.Driver {
	case "postgres":
		db, err = openPostgres(ds, src.Password, lim)
	case "mysql":
		db, err = openMySQL(ds, src.Password, lim)
	default:
		return nil, bitnobi.Errorf(bitnobi.EUNSUPPORTED, "SQL data source %q uses driver %q, which this version does not query (it queries postgres and mysql).", ds.Name, ds.Driver)
	}
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)

	qctx, cancel := context.WithTimeout(ctx, lim.QueryTimeout)
	r := &sqlRows{db: db, cancel: cancel, ctx: qctx, ds: ds, lim: lim}
	connecting := true
	fail := func(err error) (Rows, error) {
		r.Close()
		return nil, sqlError(ds, lim, qctx, connecting, err)
	}
	cctx, ccancel := context.WithTimeout(qctx, lim.ConnectTimeout)
	conn, err := db.Conn(cctx)
	ccancel()
	if err != nil {
		return fail(err)
	}
	r.conn = conn
	connecting = false
	if ds.Driver == "mysql" {
		// A server-side bound too, so that the server stops the query
		// even if the connection is lost: MariaDB's max_statement_time
		// (seconds); MySQL's max_execution_time (milliseconds) otherwise.
		secs := strconv.FormatFloat(lim.QueryTimeout.Seconds(), 'f', 3, 64)
		if _, err := conn.ExecContext(qctx, "SET SESSION max_statement_time = "+secs); err != nil {
			conn.ExecContext(qctx, "SET SESSION max_execution_time = "+strconv.FormatInt(lim.QueryTimeout.Milliseconds(), 10))
		}
	}
	tx, err := conn.BeginTx(qctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	r.tx = tx
	rows, err := tx.QueryContext(qctx, ds.Query)
	if err != nil {
		return fail(err)
	}
	r.rows = rows
	cols, err := rows.Columns()
	if err != nil {
		return fail(err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return fail(err)
	}
	seen := map[string]bool{}
	for i, c := range cols {
		if c == "" || c == "?column?" {
			c = "column_" + strconv.Itoa(i+1)
			cols[i] = c
		}
		if seen[c] {
			return fail(bitnobi.Errorf(bitnobi.EINVALID, "the query of SQL data source %q returns column %q twice: name each column once (SELECT ... AS name).", ds.Name, c))
		}
		seen[c] = true
	}
	r.cols = cols
	r.kinds = make([]byte, len(types))
	for i, t := range types {
		r.kinds[i] = sqlKind(t.DatabaseTypeName())
	}
	return r, nil
}

func openPostgres(ds *bitnobi.DataSource, password string, lim SQLLimits) (*sql.DB, error) {
	// A URL, so that the fallbacks pgx derives (TLS first, then plain:
	// sslmode=prefer) go to this host, never to a default one.
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(ds.User, password),
		Host:   net.JoinHostPort(ds.Host, strconv.Itoa(ds.Port)),
		Path:   "/" + ds.Database,
		RawQuery: url.Values{
			"sslmode":         {"prefer"},
			"connect_timeout": {strconv.Itoa(max(1, int(lim.ConnectTimeout.Seconds())))},
		}.Encode(),
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "SQL data source %q: %v.", ds.Name, err)
	}
	cfg.ConnectTimeout = lim.ConnectTimeout
	params := map[string]string{
		"application_name":              "bitnobi",
		"default_transaction_read_only": "on",
		"statement_timeout":             strconv.FormatInt(lim.QueryTimeout.Milliseconds(), 10),
	}
	cfg.RuntimeParams = params
	return stdlib.OpenDB(*cfg), nil
}

func openMySQL(ds *bitnobi.DataSource, password string, lim SQLLimits) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(ds.Host, strconv.Itoa(ds.Port))
	cfg.DBName, cfg.User, cfg.Passwd = ds.Database, ds.User, password
	cfg.Timeout = lim.ConnectTimeout
	// The I/O bounds: a server that stops answering is an error, not a
	// hang, even where a context is not checked.
	cfg.ReadTimeout = lim.QueryTimeout + lim.ConnectTimeout
	cfg.WriteTimeout = lim.QueryTimeout + lim.ConnectTimeout
	cfg.AllowNativePasswords = true
	cfg.TLSConfig = "preferred" // TLS when the server offers it
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, bitnobi.Errorf(bitnobi.EINVALID, "SQL data source %q: %v.", ds.Name, err)
	}
	return sql.OpenDB(conn), nil
}

// Kinds of SQL column values.
const (
	kindAny   = iota // converted by its Go type
	kindInt          // integers sent as text (MySQL's text protocol)
	kindFloat        // floating-point numbers sent as text
)

func sqlKind(dbType string) byte {
	switch strings.ToUpper(dbType) {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
		return kindInt
	case "FLOAT", "DOUBLE", "REAL":
		return kindFloat
	}
	return kindAny
}

// sqlRows streams a query's rows.
type sqlRows struct {
	ctx    context.Context
	cancel context.CancelFunc
	db     *sql.DB
	conn   *sql.Conn
	tx     *sql.Tx
	rows   *sql.Rows
	ds     *bitnobi.DataSource
	lim    SQLLimits
	cols   []string
	kinds  []byte
	n      int64
	closed bool
}

func (r *sqlRows) Columns() []string { return r.cols }

func (r *sqlRows) Next() ([]any, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, sqlError(r.ds, r.lim, r.ctx, false, err)
		}
		return nil, io.EOF
	}
	if r.n++; r.n > r.lim.MaxRows {
		return nil, bitnobi.Errorf(bitnobi.ETOOLARGE, "the query of SQL data source %q returns more than %d rows: narrow it (WHERE, LIMIT, GROUP BY).", r.ds.Name, r.lim.MaxRows)
	}
	vals := make([]any, len(r.cols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, sqlError(r.ds, r.lim, r.ctx, false, err)
	}
	for i, v := range vals {
		vals[i] = sqlValue(v, r.kinds[i])
	}
	return vals, nil
}

// sqlValue turns a value the driver returned into a row value.
func sqlValue(v any, kind byte) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		s := string(x)
		switch kind {
		case kindInt:
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		case kindFloat:
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
		}
		return s
	case string:
		return x
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return strconv.FormatUint(x, 10)
	case uint32:
		return int64(x)
	case float64:
		return x
	case float32:
		return float64(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// Close ends the query, rolls the read-only transaction back and closes
// the connection.
func (r *sqlRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.rows != nil {
		r.rows.Close()
	}
	if r.tx != nil {
		r.tx.Rollback()
	}
	if r.conn != nil {
		r.conn.Close()
	}
	r.cancel()
	return r.db.Close()
}

// sqlError turns a driver error into one that says what to fix. Errors
// of the database (a bad query, a refused sign-in) are the user's to fix
// and shown; a timeout says which.
func sqlError(ds *bitnobi.DataSource, lim SQLLimits, qctx context.Context, connecting bool, err error) error {
	var be *bitnobi.Error
	if errors.As(err, &be) {
		return err
	}
	where := fmt.Sprintf("SQL data source %q (%s on %s:%d)", ds.Name, ds.Driver, ds.Host, ds.Port)
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "57014": // query_canceled, by statement_timeout
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the query took longer than %s and was stopped: make it faster or narrow it.", where, lim.QueryTimeout)
	case errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000"):
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the database refused the user name or password (%s): check them in the data source.", where, pgErr.Message)
	case errors.As(err, &pgErr) && pgErr.Code == "25006":
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the query tried to change the database; a SQL data source only reads (%s).", where, pgErr.Message)
	case errors.As(err, &pgErr):
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the database answered: %s (SQLSTATE %s).", where, pgErr.Message, pgErr.Code)
	case errors.As(err, &myErr) && myErr.Number == 1045:
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the database refused the user name or password (%s): check them in the data source.", where, myErr.Message)
	case errors.As(err, &myErr) && (myErr.Number == 1969 || myErr.Number == 3024): // MariaDB, MySQL: statement time exceeded
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the query took longer than %s and was stopped: make it faster or narrow it.", where, lim.QueryTimeout)
	case errors.As(err, &myErr) && myErr.Number == 1792:
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the query tried to change the database; a SQL data source only reads (%s).", where, myErr.Message)
	case errors.As(err, &myErr):
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the database answered: %s (error %d).", where, myErr.Message, myErr.Number)
	case connecting && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())):
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: could not connect within %s: check the host and port, and that the database accepts connections from this server.", where, lim.ConnectTimeout)
	case qctx.Err() == context.DeadlineExceeded:
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: the query took longer than %s and was stopped: make it faster or narrow it, and check that the database answers.", where, lim.QueryTimeout)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: could not connect within %s: check the host and port, and that the database accepts connections from this server.", where, lim.ConnectTimeout)
	case errors.Is(err, context.Canceled):
		return err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || strings.Contains(err.Error(), "connect") {
		return bitnobi.Errorf(bitnobi.EINVALID, "%s: could not connect (%v): check the host and port, and that the database is running.", where, errorCause(err))
	}
	return fmt.Errorf("%s: %w", where, err)
}

// errorCause is the innermost error's text, the part a person can act on.
func errorCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
