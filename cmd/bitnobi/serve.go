package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/federation"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/web"
)

const serveHelp = `Usage: bitnobi serve [flags]

Runs the Bitnobi server: the web pages (open http://localhost:8000/) and
the JSON API (under /api/) on --listen, all state in --data-dir
(a SQLite database, a blob folder and the master key, created on first
start). With --db postgres://..., the database is on that PostgreSQL server
instead, while blobs and the master key stay in --data-dir. Only one process
may hold a data directory: a second server, or a restore, is refused with
the holder's PID; likewise only one server may use a PostgreSQL database,
and a second is refused with the first's session (pid, application, client
address). SIGINT or SIGTERM stops the server gracefully, finishing requests
in flight.

Sessions (sign-in tokens) end after --session-lifetime (default 720h, 30
days) whatever happens, and sooner when unused for --session-idle (default
24h; 0 turns the idle timeout off). Durations are Go durations: 90m, 12h,
720h. Failed sign-ins are throttled per account and per address, with waits
of up to 5 minutes (see docs/api.md).

Backups can be taken while it runs: see "bitnobi backup --help".
` + serveOpsHelp + `
Health: GET /api/health (alive), GET /api/ready (database reachable, data
directory writable), GET /metrics (Prometheus; from --metrics-allow, or
with an administrator's token).
`

func (m *Main) runServe(ctx context.Context, args []string) error {
	fs := m.newFlagSet("serve", serveHelp)
	dataDir := m.dataDirFlag(fs)
	dbFlag := m.dbFlag(fs)
	defListen := m.Getenv(EnvListen)
	if defListen == "" {
		defListen = ":8000"
	}
	listen := fs.String("listen", defListen, "address to listen on (env "+EnvListen+")")
	maxUpload := fs.Int64("max-upload-bytes", 1<<30, "largest data-source upload accepted, in bytes")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	gcEvery := fs.Duration("gc-interval", time.Hour, "how often unreferenced blobs are collected (0 disables)")
	defLifetime, err := m.envDuration(EnvSessionLifetime, store.DefaultSessionTTL)
	if err != nil {
		return err
	}
	defIdle, err := m.envDuration(EnvSessionIdle, store.DefaultSessionIdle)
	if err != nil {
		return err
	}
	sessionLifetime := fs.Duration("session-lifetime", defLifetime, "longest a sign-in stays valid (env "+EnvSessionLifetime+")")
	sessionIdle := fs.Duration("session-idle", defIdle, "a sign-in unused for this long ends; 0: never (env "+EnvSessionIdle+")")
	trustProto := fs.Bool("trust-forwarded-proto", false, "mark the web session cookie Secure when a request says X-Forwarded-Proto: https (only behind a proxy that sets that header)")
	opsF := m.addOpsFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *sessionLifetime <= 0 || *sessionIdle < 0 {
		return usagef("bitnobi serve --session-lifetime 720h --session-idle 24h", "--session-lifetime must be positive and --session-idle not negative, got %v and %v", *sessionLifetime, *sessionIdle)
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi serve --help", "serve takes no arguments, got %q", fs.Args())
	}
	dsn, err := m.dbURL(*dbFlag)
	if err != nil {
		return err
	}
	logger, err := m.newLogger(*logFormat, *logLevel)
	if err != nil {
		return err
	}
	metricsAllow, err := parseAllow(*opsF.metricsAllow)
	if err != nil {
		return err
	}
	if _, err := opsF.overrides(); err != nil {
		return err // before the data directory is touched
	}

	dir := datadir.Dir(*dataDir)
	if err := os.MkdirAll(dir.Path(), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := recoverInterruptedRestore(dir.Path()); err != nil {
		return err
	}
	lock, err := lockfile.Acquire(dir.Lock(), "serve")
	if err != nil {
		return lockError(err)
	}
	defer lock.Release()

	if dsn != "" {
		// The data-dir lock cannot see a server on another machine. Taken
		// before openApp, which migrates the database.
		unlock, err := lockDatabase(ctx, dsn)
		if err != nil {
			return lockError(err)
		}
		defer unlock()
	}

	a, err := m.openApp(ctx, dir, dsn, true)
	if err != nil {
		return err
	}
	defer a.Close()
	a.DB.Logger = logger
	a.DB.SessionTTL, a.DB.SessionIdle = *sessionLifetime, *sessionIdle
	instance, err := a.DB.EnsureInstance(ctx)
	if err != nil {
		return err
	}
	// Runs are synchronous: one still "running" lost its process when a
	// server stopped before it finished. None can be running yet.
	sctx := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{Username: "bitnobi serve"})
	if n, err := a.DB.FailInterruptedRuns(sctx); err != nil {
		return fmt.Errorf("mark interrupted workflow runs: %w", err)
	} else if n > 0 {
		logger.Warn("marked interrupted workflow runs as failed", "runs", n)
	}

	srv := newAPIServer(a, logger)
	srv.MaxUploadBytes = *maxUpload
	ops, err := m.openOps(a, dsn, dir, opsF, logger)
	if err != nil {
		return err
	}
	ops.wire(srv)
	srv.MetricsAllow = metricsAllow
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usagef("bitnobi serve --listen 127.0.0.1:8080", "listen on %s: %v", *listen, err)
	}
	pages := newWebServer(a, srv, logger)
	pages.TrustForwardedProto = *trustProto
	ops.wireWeb(pages, srv)
	hs := &http.Server{Handler: joinHandlers(srv.Handler(), pages.Handler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("serving", "addr", ln.Addr().String(), "data_dir", dir.Path(), "db", a.DB.Dialect.Name(), "instance_id", instance, "version", bitnobi.Version)
	if m.onListen != nil {
		m.onListen(ln.Addr().String())
	}

	gcCtx, stopGC := context.WithCancel(ctx)
	defer stopGC()
	if *gcEvery > 0 {
		go m.gcLoop(gcCtx, a, *gcEvery, logger)
	}
	// The audit sealer stops with the server, before the database closes.
	sealCtx, stopSeal := context.WithCancel(ctx)
	sealDone := make(chan struct{})
	go func() { defer close(sealDone); sealLoop(sealCtx, a.DB, sealEvery, logger) }()
	defer func() { stopSeal(); <-sealDone }()
	// The schedule stops with the server: a scheduled command running
	// then gets SIGTERM and cleans up as after ^C.
	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); _ = ops.sched.Run(schedCtx) }()
	defer func() { stopSched(); <-schedDone }()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// envDuration returns the duration in environment variable name, or def
// when it is unset.
func (m *Main) envDuration(name string, def time.Duration) (time.Duration, error) {
	v := m.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, usagef(name+"=24h", "%s=%q is not a duration such as 90m or 24h", name, v)
	}
	return d, nil
}

// newAPIServer wires the store's services into the HTTP API.
func newAPIServer(a *app, logger *slog.Logger) *httpapi.Server {
	srv := httpapi.NewServer()
	srv.Logger = logger
	srv.Users = &store.UserService{DB: a.DB}
	srv.Policies = &store.PolicyService{DB: a.DB}
	srv.DataSources = &store.DataSourceService{DB: a.DB}
	remotes := &store.RemoteServerService{DB: a.DB}
	peers := &federation.Client{}
	wfs := &store.WorkflowService{DB: a.DB, Hidden: []string{a.Dir.Path()}, Remote: peers}
	srv.Workflows = wfs
	srv.Reports = &store.ReportService{DB: a.DB, Workflows: wfs} // report data reads results as the API does
	srv.Remotes = remotes
	srv.Federation = &federation.Service{Peers: remotes, Results: wfs, Client: peers}
	srv.Settings = &store.SettingsService{DB: a.DB}
	srv.Audit = &store.AuditService{DB: a.DB}
	srv.Version = func(ctx context.Context) (bitnobi.VersionInfo, error) { return versionInfo(ctx, a.DB) }
	return srv
}

// newWebServer wires the store's services into the web pages; uploads go
// through the API server's streaming upload.
func newWebServer(a *app, api *httpapi.Server, logger *slog.Logger) *web.Server {
	ws := web.NewServer()
	ws.Logger = logger
	ws.Users, ws.Policies, ws.DataSources = api.Users, api.Policies, api.DataSources
	ws.Workflows, ws.Reports = api.Workflows, api.Reports
	ws.Remotes, ws.Settings, ws.Audit, ws.Version = api.Remotes, api.Settings, api.Audit, api.Version
	ws.Upload = api.UploadDataSource
	return ws
}

// joinHandlers serves the JSON API under /api/ (and the Prometheus
// metrics it serves at /metrics) and the web pages everywhere else.
func joinHandlers(api, pages http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/api", api)
	mux.Handle("/metrics", api)
	mux.Handle("/", pages)
	return mux
}

// gcLoop collects unreferenced blobs every interval until ctx ends.
func (m *Main) gcLoop(ctx context.Context, a *app, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := collectGarbage(ctx, a, logger); err != nil && !errors.Is(err, context.Canceled) {
			logger.Warn("blob garbage collection", "err", err)
		}
	}
}

// lockDatabase takes the PostgreSQL database dsn for this server (see
// [postgres.AcquireLock]) on a connection of its own, kept until unlock.
func lockDatabase(ctx context.Context, dsn string) (unlock func(), err error) {
	db, err := postgres.OpenNoMigrate(ctx, dsn)
	if err != nil {
		return nil, err
	}
	release, err := postgres.AcquireLock(ctx, db.Write)
	if err != nil {
		db.Close()
		return nil, err
	}
	return func() { release(); db.Close() }, nil
}

// lockError turns a held lock into an exit code and a hint.
func lockError(err error) error {
	var held *lockfile.HeldError
	if errors.As(err, &held) {
		return &ExitError{Code: ExitLocked, Err: err, Hint: fmt.Sprintf("stop process %d (%s) first, or use another --data-dir", held.PID, held.Purpose)}
	}
	var pgHeld *postgres.LockedError
	if errors.As(err, &pgHeld) {
		return &ExitError{Code: ExitLocked, Err: err, Hint: "stop the other server first, or use another --db"}
	}
	return err
}

func (m *Main) newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level info", "unknown log level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(m.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(m.Stderr, opts)), nil
	}
	return nil, usagef("--log-format text", "unknown log format %q (text or json)", format)
}
