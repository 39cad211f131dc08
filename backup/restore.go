package backup

import (
	"cmp"
	"context"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/fsutil"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/store"
)

// Target is a database other than the data directory's SQLite file that
// [Restore] builds the restored state in and then switches to atomically
// (package postgres provides one: postgres.RestoreTarget). The data
// directory still receives the blobs and, when it has none, the master key.
type Target interface {
	// Stage locks the database against servers (failing if one runs) and
	// returns a new, empty database, which no server sees, to build the
	// restored state in.
	Stage(ctx context.Context) (*store.DB, error)
	// Commit makes the staged state the database's, in one atomic step,
	// and returns where the previous state was kept ("" where nothing
	// was, or discardPrevious was set). The staged *store.DB is closed.
	Commit(ctx context.Context, discardPrevious bool) (previous string, err error)
	// Close removes a staged state that was not committed and releases
	// the lock. It is called once, after Commit or after a failure.
	Close() error
}

// RowLoader is an optional capability of a [Target]: loading a table's
// rows, given in the engine-neutral form of backups, faster than one
// INSERT each (COPY on PostgreSQL). It returns the number of rows loaded.
type RowLoader interface {
	LoadRows(ctx context.Context, t store.Table, rows iter.Seq2[[]any, error]) (int64, error)
}

// RestoreOptions configures [Restore].
type RestoreOptions struct {
	// Backup is the backup directory to restore. Required.
	Backup string
	// DataDir is the data directory to restore into: missing, empty, or a
	// data directory whose state is replaced. Required.
	DataDir string
	// Target, if set, is the database to restore into; the data directory
	// then receives only the blobs and the master key. nil restores into
	// the data directory's SQLite database, switching the whole directory.
	Target Target
	// KeyFile is the master key to restore a plain backup with; "" means
	// the target data directory's master.key. The key must have the
	// fingerprint the manifest records. An encrypted backup carries its
	// key, and KeyFile is not read.
	KeyFile string
	// Local builds the data directory's database file when Target is nil;
	// nil means the registered engine (see [LocalDB]).
	Local LocalDB
	// Keys unlock an encrypted backup; a plain one needs none.
	Keys *format.Keys
	// AsCopy makes the restored state a copy that never acts as the
	// original: a new instance ID, meta clone_of set to the original's,
	// e-mail settings and remote servers disabled.
	AsCopy bool
	// DiscardPrevious removes the data directory's previous state after
	// the switch instead of keeping it as <dir>.before-restore-<time>.
	DiscardPrevious bool
	// RestoredBy names who restores, for the audit entry; "" means the
	// current OS user.
	RestoredBy string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, if set, is called as work advances. The calls come one
	// at a time, though not all from the caller's goroutine. While the
	// tables load, the blobs are copied (phase "load"): Items counts
	// both, Bytes the blobs'.
	Progress func(Progress)
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
	// AuditSegmentSize is the number of audit entries per sealed segment
	// when the restored state's full segments are sealed before the
	// switch (0: [store.DefaultAuditSegmentSize], what a server seals
	// with). Tests make it small.
	AuditSegmentSize int64
}

// RestoreResult describes a finished restore.
type RestoreResult struct {
	Manifest *format.Manifest
	DataDir  string // absolute path of the restored data directory
	// Previous is where the data directory's previous state was kept (for
	// a [Target], the previous database state, e.g. a PostgreSQL schema),
	// or "" when it held none or DiscardPrevious was set.
	Previous   string
	InstanceID string // the restored state's instance ID
	CloneOf    string // the original's instance ID, for a copy
	Duration   time.Duration
}

// InterruptedError is the error of a [Restore] whose context was done
// before it began to switch to the restored state. Such a restore changed
// nothing: the data directory holds the state it held when the restore
// began (a missing one, created to hold its lock, is removed again), and
// so does the database of a [Target]. The one trace a restore into a
// Target leaves is the blobs it had copied into the data directory's blob
// store, beside the existing ones (in a data directory it created, which
// then stays): nothing refers to them, and the blob collector
// ([store.DB.CollectGarbage]) removes them.
//
// Once the switch has begun, Restore no longer stops for its context: the
// data directory's switch runs to its end; a Target's Commit may still
// fail with the context's error, which is then not an InterruptedError.
type InterruptedError struct {
	Err   error // the error that ended the restore
	Cause error // the context's error, [context.Canceled] or [context.DeadlineExceeded]
	// Recovered, if not "", says what the restore did before it was
	// interrupted, "completed the earlier restore of NAME" or "rolled
	// back ...": it finished the switch of an earlier restore that a
	// crash had cut short (see [RecoverInterruptedRestore]), which
	// changed the data directory.
	Recovered string
}

// Error returns Err's message, saying that nothing was changed (but for
// the earlier restore it finished, if any).
func (e *InterruptedError) Error() string {
	if e.Recovered != "" {
		return "restore interrupted after it " + e.Recovered + " (a crash had cut it short), nothing else changed: " + e.Err.Error()
	}
	return "restore interrupted, nothing changed: " + e.Err.Error()
}

// Unwrap returns Err and Cause, so that the error matches the context's
// error even when what stopped the restore (a database driver's
// "interrupted", say) does not.
func (e *InterruptedError) Unwrap() []error { return []error{e.Err, e.Cause} }

// Restore restores the backup opts.Backup into the data directory
// opts.DataDir, which may be missing, empty, or a data directory whose
// state is replaced (in place).
// See the package documentation for the checks made before anything is
// changed and for how the switch survives a crash; its numbered steps
// are the methods of restorer called here in turn. It refuses while a
// server holds the data directory's lock (an error matching [lockfile.ErrLocked]) and
// holds that lock itself while it works. When ctx is done before the
// switch, it returns an [*InterruptedError].
func Restore(ctx context.Context, opts RestoreOptions) (res *RestoreResult, err error) {
	start := time.Now()
	r, err := newRestorer(opts.Backup, opts.DataDir, opts)
	if err != nil {
		return nil, err
	}
	// This deferred call runs last, after the clean-up of the others: up
	// to the switch, an error while ctx is done (whatever the error: a
	// cancelled query may report itself in its own words) ends a
	// restore that changed nothing.
	defer func() {
		if err != nil && !r.switching && ctx.Err() != nil {
			res, err = nil, &InterruptedError{Err: err, Cause: ctx.Err(), Recovered: r.recovered}
		}
	}()
	if err := r.readBackup(); err != nil { // step 1
		return nil, err
	}
	rlock, err := r.lockRestore() // step 2
	if err != nil {
		return nil, err
	}
	defer rlock.Release()
	if err := r.checkBackup(ctx); err != nil { // steps 3 to 5
		return nil, r.damaged(ctx, err)
	}
	tlock, err := r.lockDataDir() // step 6
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !r.hadLock && !r.created && !r.switching {
			// A refusal removes the lock file it created in an existing
			// directory (removed before it is released, so no one
			// locks the unlinked file meanwhile).
			os.Remove(r.lockPath)
		}
		tlock.Release()
		if err != nil && r.created {
			removeEmptyTarget(r.dataDir)
		}
	}()
	if err := r.checkSpace(); err != nil { // step 6
		return nil, err
	}
	if opts.Target != nil {
		res, err = r.intoTarget(ctx) // steps 7 and 8 in the target
	} else {
		res, err = r.intoDataDir(ctx) // steps 7 and 8
	}
	if err != nil {
		return nil, r.damaged(ctx, err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// restorer holds the state of one [Restore] from step to step.
type restorer struct {
	opts      RestoreOptions
	now       func() time.Time
	logger    *slog.Logger
	backupDir string // absolute
	dataDir   string // absolute
	name      string // the backup's name
	m         *format.Manifest
	u         *format.Unlocked
	key       secret.Key
	keys      *format.Keys // for openContent: nil for a plain backup
	// check checks the backup's files as the restore reads them, set by
	// checkBackup.
	check *fileCheck
	kind  int // what dataDir holds: targetMissing, targetEmpty or targetState
	// created is set while dataDir is a directory this restore created
	// to hold its lock, to be removed again if the restore fails.
	created bool
	// lockPath is the data directory's lock file, and hadLock whether it
	// existed before this restore took the lock.
	lockPath string
	hadLock  bool
	// switching is set as the switch to the restored state begins.
	switching bool
	recovered string // what recoverLocked finished, if anything
}

// newRestorer checks the options and that the backup and the data
// directory do not overlap.
func newRestorer(backupDir, dataDir string, opts RestoreOptions) (*restorer, error) {
	if opts.Local = localDB(opts.Local); opts.Target == nil && opts.Local == nil {
		return nil, errNoLocal
	}
	r := &restorer{opts: opts, now: opts.Now, logger: opts.Logger}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	var err error
	if r.backupDir, err = filepath.Abs(backupDir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if r.dataDir, err = filepath.Abs(dataDir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if fsutil.Within(r.backupDir, r.dataDir) || fsutil.Within(r.dataDir, r.backupDir) {
		return nil, &HintError{
			Err:  fmt.Errorf("restore: the backup %s and the data directory %s overlap", r.backupDir, r.dataDir),
			Hint: "keep backups in a folder beside the data directory",
		}
	}
	r.name = filepath.Base(r.backupDir)
	return r, nil
}

// readBackup reads the manifest and unlocks an encrypted backup (step 1),
// before any lock: a path that is not a backup, or a damaged or newer
// one, is refused at once even while another restore into dataDir runs,
// and leaves nothing behind. Nothing here needs the lock, which guards
// dataDir and the files beside it: the backup is outside them (checked
// by newRestorer), and a complete backup's manifest never changes.
func (r *restorer) readBackup() error {
	m, err := format.ReadManifest(r.backupDir)
	if err != nil {
		return err
	}
	// An encrypted backup is unlocked first: a missing or wrong key, or
	// an altered manifest, stops the restore before anything else.
	if r.u, err = format.UnlockKey(r.backupDir, m, r.opts.Keys); err != nil {
		return fmt.Errorf("restore: backup %s: %w", r.name, err)
	}
	r.m = r.u.Manifest
	if latest := store.LatestSchemaVersion(); r.m.SchemaVersion > latest {
		return &HintError{
			Err: fmt.Errorf("restore: %w: backup %s has schema version %d (bitnobi %s); this bitnobi %s knows up to schema version %d",
				ErrNewerVersion, r.name, r.m.SchemaVersion, r.m.AppVersion, bitnobi.Version, latest),
			Hint: "restore with bitnobi " + r.m.AppVersion + " or newer",
		}
	}
	return nil
}

// lockRestore takes the restore lock beside the data directory, so that
// one restore into it runs at a time, finishes one that was cut short and
// the deletions of --discard-previous that were, and refuses at once
// while a server holds the data directory (step 2).
func (r *restorer) lockRestore() (*lockfile.Lock, error) {
	if err := os.MkdirAll(filepath.Dir(r.dataDir), dirPerm); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	rlock, err := lockRestore(r.dataDir)
	if err != nil {
		return nil, err
	}
	if r.recovered, err = recoverLocked(r.dataDir, r.logger); err != nil {
		rlock.Release()
		return nil, err
	}
	removeDeleting(r.dataDir, r.logger)
	// A server holding dataDir refuses the restore: say so before the
	// checks read the whole backup. Only a probe (a shared lock on an
	// existing lock file, which creates nothing); the lock itself is
	// taken by lockDataDir.
	if ok, _ := exists(datadir.Dir(r.dataDir).Lock()); ok {
		probe, err := lockfile.AcquireShared(datadir.Dir(r.dataDir).Lock(), "restore: probe")
		if err != nil {
			rlock.Release()
			return nil, fmt.Errorf("restore: %w", err)
		}
		probe.Release()
	}
	return rlock, nil
}

// lockDataDir takes the data directory's lock (step 6), refusing while a
// server holds it, after creating the directory if it is missing.
func (r *restorer) lockDataDir() (*lockfile.Lock, error) {
	var err error
	if r.kind, err = inspectTarget(r.dataDir); err != nil {
		return nil, err
	}
	if r.kind == targetMissing {
		// Create it, to hold its lock: a server started meanwhile must
		// not begin a new installation there.
		if err := os.MkdirAll(r.dataDir, dirPerm); err != nil {
			return nil, fmt.Errorf("restore: create data directory: %w", err)
		}
		r.created = true
	}
	r.lockPath = datadir.Dir(r.dataDir).Lock()
	if r.hadLock, err = exists(r.lockPath); err != nil {
		if r.created {
			removeEmptyTarget(r.dataDir)
		}
		return nil, fmt.Errorf("restore: %w", err)
	}
	tlock, err := lockfile.Acquire(r.lockPath, "restore")
	if err != nil {
		if r.created {
			removeEmptyTarget(r.dataDir)
		}
		return nil, fmt.Errorf("restore: %w", err)
	}
	return tlock, nil
}

// checkBackup finds the master key and checks it against the manifest
// (step 3), checks the backup's files (step 4) and that its secrets were
// sealed with that key (step 5). This comes before the data directory is
// locked: a refusal must leave the target untouched, not even a lock file
// in an existing empty directory. None of it reads anything the lock
// guards but the key file, which a restore never writes before the
// switch.
//
// Step 4 reads only what the build does not: it checks that the backup
// holds exactly the files listed, each with its size, and the SHA-256 of
// those the build does not read; the table and blob files are checked
// as the build reads them (r.check), so that each is read once.
func (r *restorer) checkBackup(ctx context.Context) error {
	r.key = r.u.Key
	if r.m.MasterKey.Mode != format.KeySealed {
		var err error
		if r.key, err = findKey(r.opts.KeyFile, r.dataDir, r.m); err != nil {
			return err
		}
	}
	r.keys = r.m.ContentKeys(r.opts.Keys)
	read := map[string]bool{} // the files the build reads
	for _, t := range r.m.Tables {
		for _, s := range t.Parts() {
			read[s.File] = true
		}
	}
	for _, f := range r.m.Files {
		if f.Blob != "" {
			read[f.Path] = true
		}
	}
	r.check = newFileCheck(r.m.Public(), read)
	if err := checkFilesBut(ctx, r.backupDir, r.m.Public(), nil, r.opts.Progress, r.check.later); err != nil {
		return fmt.Errorf("restore: backup %s: %w", r.name, err)
	}
	return checkSecretKeys(ctx, r.backupDir, r.m, r.key, r.keys, r.check)
}

// damaged returns the error of a restore that failed with err before the
// switch: the backup's damaged files, if any, as a full check of its
// files (checkFiles, what verify checks first) names them, else err.
// The files are checked as the restore reads them, but a damaged one can
// make its reading fail first in other words (an undecodable row, a
// constraint it breaks), or make another part fail; the operator is told
// of the damage, as before restore checked the files in a pass of its
// own. Only an error that a damaged file can cause (mayBeDamage) leads to
// that check, which reads the whole backup again; any other (a key, the
// space, a lock, the context, a lost database connection, the seal) is
// returned as it is, at once.
func (r *restorer) damaged(ctx context.Context, err error) error {
	if r.check == nil || r.switching || ctx.Err() != nil || !mayBeDamage(err) {
		return err
	}
	if derr := checkFiles(ctx, r.backupDir, r.m.Public(), nil, nil); derr != nil && ctx.Err() == nil {
		return fmt.Errorf("restore: backup %s: %w", r.name, derr)
	}
	return err
}

// fromBackup marks an error of loading the backup's rows into the new
// database: a row the file gave that does not decode, or that the
// database refuses (a type, a constraint). A damaged table file can cause
// it, and its error does not say so; see mayBeDamage.
type fromBackup struct{ err error }

func (e fromBackup) Error() string { return e.err.Error() }
func (e fromBackup) Unwrap() error { return e.err }

// mayBeDamage reports whether err, which ended a restore before the
// switch, may come from a damaged backup file: a file that does not
// match the manifest or cannot be read as the format defines
// ([ErrVerify]), an error naming a backup file ([FileError]: a table
// file's rows, a blob file that does not decode), an audit chain the
// backup's rows or segments break, or a row the database refused as it
// was loaded (fromBackup). Even then, a lost database connection, the
// space, a lock or a key is not damage.
func mayBeDamage(err error) bool {
	var fe *FileError
	var ne net.Error
	switch {
	case errors.Is(err, ErrKeyMissing), errors.Is(err, ErrKeyMismatch), errors.Is(err, ErrKeyUnusable),
		errors.Is(err, ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, lockfile.ErrLocked):
		return false
	case errors.As(err, &ne), errors.Is(err, driver.ErrBadConn), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return false // the database's connection, not the backup
	}
	return errors.Is(err, ErrVerify) || errors.As(err, &fe) || errors.Is(err, store.ErrAuditChain) || errors.As(err, new(fromBackup))
}

// checkSpace checks, under the data directory's lock, that the file
// system has room for the new state and, for a target, that the data
// directory's master key is the one the restored state needs (step 6).
func (r *restorer) checkSpace() error {
	if err := checkSpace(filepath.Dir(r.dataDir), r.m); err != nil {
		return err
	}
	if r.opts.Target != nil {
		return checkTargetKey(datadir.Dir(r.dataDir).Key(), r.key)
	}
	return nil
}

// builder returns a builder of the restored state in staging ("" for a
// target).
func (r *restorer) builder(ctx context.Context, staging string) *builder {
	return &builder{
		ctx: ctx, dir: r.backupDir, name: r.name, staging: staging, m: r.m, key: r.key, keys: r.keys, check: r.check,
		opts: r.opts, now: r.now, logger: r.logger,
	}
}

// intoTarget builds the restored state in the database opts.Target
// stages and the blobs in the data directory (step 7), then has the
// target switch to it (step 8).
func (r *restorer) intoTarget(ctx context.Context) (*RestoreResult, error) {
	b := r.builder(ctx, "")
	b.beginSwitch = func() { r.switching = true }
	res := &RestoreResult{Manifest: r.m, DataDir: r.dataDir}
	if err := b.buildTarget(r.opts.Target, datadir.Dir(r.dataDir), res); err != nil {
		return nil, err
	}
	r.created = false // it holds blobs and the key now
	return res, nil
}

// intoDataDir builds the restored state in the staging directory beside
// the data directory (step 7), then switches the data directory to it
// (step 8).
func (r *restorer) intoDataDir(ctx context.Context) (*RestoreResult, error) {
	staging := stagingPath(r.dataDir)
	if err := os.RemoveAll(staging); err != nil { // left by an interrupted restore
		return nil, fmt.Errorf("restore: remove stale staging directory: %w", err)
	}
	if err := os.Mkdir(staging, dirPerm); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	switched := false
	defer func() {
		if !switched {
			os.RemoveAll(staging)
		}
	}()
	res := &RestoreResult{Manifest: r.m, DataDir: r.dataDir}
	var err error
	if res.InstanceID, res.CloneOf, err = r.builder(ctx, staging).build(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}

	r.switching = true
	j := &journal{DataDir: r.dataDir, Staging: staging, Backup: r.name}
	if r.kind == targetState {
		if j.Previous, err = previousName(r.dataDir, r.now()); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	if err := writeJournal(j); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	switched = true   // from here on, the journal owns the staging directory
	r.created = false // and the data directory
	if _, err := finishSwitch(j); err != nil {
		return nil, err
	}
	res.Previous = j.Previous
	if r.opts.DiscardPrevious && j.Previous != "" {
		if err := discard(r.dataDir, j.Previous); err != nil {
			r.logger.Warn("could not remove the previous state", "path", j.Previous, "err", err)
		} else {
			res.Previous = ""
		}
	}
	return res, nil
}

// Kinds of restore target.
const (
	targetMissing = iota // no directory
	targetEmpty          // a directory with nothing but lock files
	targetState          // a data directory, or one holding a master key
)

// dataDirNames are the entries a data directory may hold.
var dataDirNames = map[string]bool{
	"bitnobi.db": true, "bitnobi.db-wal": true, "bitnobi.db-shm": true, "blobs": true,
	"master.key": true, "bitnobi.lock": true, "gc.lock": true,
}

// inspectTarget tells what a restore would replace at dataDir, refusing
// what is not a data directory.
func inspectTarget(dataDir string) (int, error) {
	fi, err := os.Lstat(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return targetMissing, nil
	} else if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return 0, &HintError{
			Err:  fmt.Errorf("restore: data directory %s is a symbolic link", dataDir),
			Hint: "pass the directory it points to as --data-dir",
		}
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("restore: %s is not a directory", dataDir)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	kind, hasDB := targetEmpty, false
	var unknown string
	for _, e := range entries {
		switch {
		case lockNames[e.Name()]:
		case e.Name() == "bitnobi.db":
			hasDB, kind = true, targetState
		case dataDirNames[e.Name()]:
			kind = targetState
		default:
			kind, unknown = targetState, e.Name()
		}
	}
	if unknown != "" && !hasDB {
		return 0, &HintError{
			Err:  fmt.Errorf("restore: %w: %s holds %s and no bitnobi.db", ErrTargetNotEmpty, dataDir, unknown),
			Hint: "restore into a new or empty directory, or into an existing data directory",
		}
	}
	return kind, nil
}

// deletingPrefix starts the name, beside dataDir, of a previous state
// being deleted (--discard-previous): a kill during the deletion leaves a
// name that no one mistakes for a complete kept state, and the next
// restore, serve or backup finishes the deletion ([removeDeleting]).
func deletingPrefix(dataDir string) string { return dataDir + ".deleting-" }

// discard deletes the previous state previous of dataDir: renamed to a
// deletingPrefix name first, durably, then removed.
func discard(dataDir, previous string) error {
	doomed := deletingPrefix(dataDir) + strings.TrimPrefix(filepath.Base(previous), filepath.Base(dataDir)+".")
	if err := os.Rename(previous, doomed); err != nil {
		return err
	}
	if err := fsutil.SyncDir(filepath.Dir(dataDir)); err != nil {
		return err
	}
	if discardHook != nil {
		discardHook(doomed)
	}
	return os.RemoveAll(doomed)
}

// discardHook, when set by tests, runs between the rename and the
// removal of [discard], where a kill leaves a .deleting-* directory.
var discardHook func(doomed string)

// removeDeleting finishes deletions that [discard] began and a crash cut
// short. Failures are logged: they cost disk space, not correctness.
func removeDeleting(dataDir string, logger *slog.Logger) {
	matches, err := filepath.Glob(globQuote(deletingPrefix(dataDir)) + "*")
	if err != nil {
		return
	}
	for _, p := range matches {
		if err := os.RemoveAll(p); err != nil {
			logger.Warn("could not remove a partly deleted previous state", "path", p, "err", err)
		} else {
			logger.Info("removed a partly deleted previous state", "path", p)
		}
	}
}

// globQuote escapes the pattern characters of a path for filepath.Glob.
func globQuote(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// previousName picks the name the previous state is kept under.
func previousName(dataDir string, t time.Time) (string, error) {
	base := dataDir + ".before-restore-" + t.UTC().Format("20060102_150405")
	for n := 1; n < 1000; n++ {
		p := base
		if n > 1 {
			p = fmt.Sprintf("%s-%d", base, n)
		}
		ok, err := exists(p)
		if err != nil {
			return "", err
		}
		if !ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free name for %s", base)
}

// findKey reads the master key a restore installs and checks it against
// the manifest. The key travels outside plain backups (KeyExternal);
// encrypted ones carry it (KeySealed), and unlock returns it.
func findKey(keyFile, dataDir string, m *format.Manifest) (secret.Key, error) {
	if keyFile == "" {
		keyFile = datadir.Dir(dataDir).Key()
	}
	switch m.MasterKey.Mode {
	case format.KeyExternal:
	default:
		return secret.Key{}, fmt.Errorf("restore: %w: master key mode %q", ErrMalformed, m.MasterKey.Mode)
	}
	key, err := secret.ReadKeyFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return secret.Key{}, &HintError{
			Err: fmt.Errorf("restore: %w: the backup needs the master key with fingerprint %s, and %s does not exist",
				ErrKeyMissing, m.MasterKey.Fingerprint, keyFile),
			Hint: "pass the master.key kept apart from the backups with --key-file, or set BITNOBI_MASTER_KEY_FILE",
		}
	} else if err != nil {
		return secret.Key{}, unusableKeyError(err, keyFile, m.MasterKey.Fingerprint)
	}
	if fp := key.Fingerprint(); fp != m.MasterKey.Fingerprint {
		return secret.Key{}, &HintError{
			Err: fmt.Errorf("restore: %w: %s has fingerprint %s, the backup was made with the key whose fingerprint is %s",
				ErrKeyMismatch, keyFile, fp, m.MasterKey.Fingerprint),
			Hint: "pass the right master key with --key-file",
		}
	}
	return key, nil
}

// unusableKeyError returns the error of a restore whose master key file
// exists but cannot be used: err, of [secret.ReadKeyFile], says why. It
// matches [ErrKeyUnusable] and err, and its hint fits the reason.
func unusableKeyError(err error, path, fingerprint string) error {
	hint := "pass the master key the backup was made with (fingerprint " + fingerprint + ") with --key-file"
	switch {
	case errors.Is(err, secret.ErrInsecureKeyFile):
		hint = "chmod 600 " + path
	case errors.Is(err, fs.ErrPermission):
		hint = "restore as a user who can read " + path + ", or pass a copy of the key that this user can read with --key-file"
	}
	return &HintError{Err: fmt.Errorf("restore: %w: %w", ErrKeyUnusable, withoutServerHint(err)), Hint: hint}
}

// withoutServerHint returns err without the hint of a
// [*secret.KeyFileError], which Error appends: it is written for a server
// starting (for a malformed key: move the file away to create a new key,
// which would make every stored password unreadable), no advice for a
// backup or a restore, whose own hint goes on the hint line.
func withoutServerHint(err error) error {
	if kfe, ok := err.(*secret.KeyFileError); ok && kfe.Hint != "" {
		c := *kfe
		c.Hint = ""
		return &c
	}
	return err
}

// secretHint returns the hint of a [*secret.KeyFileError] in err's chain,
// or a general one.
func secretHint(err error) string {
	var ke *secret.KeyFileError
	if errors.As(err, &ke) && ke.Hint != "" {
		return ke.Hint
	}
	return "pass the master key with --key-file"
}

// checkSecretKeys checks that every secret in the backup was sealed with
// key, so that the restored secrets can be opened; check checks the
// files it reads, as for openChecked.
func checkSecretKeys(ctx context.Context, dir string, m *format.Manifest, key secret.Key, keys *format.Keys, check *fileCheck) error {
	for _, t := range m.Tables {
		if t.Name != "secrets" {
			continue
		}
		col := slices.IndexFunc(t.Columns, func(c format.Column) bool { return c.Name == "key_fingerprint" })
		if col < 0 {
			return nil
		}
		others := map[string]int{}
		_, err := forEachRow(ctx, dir, t, keys, check, func(row []any) error {
			if fp, _ := row[col].(string); fp != key.Fingerprint() {
				others[fp]++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("restore: %w", fromBackup{err})
		}
		for fp, n := range others {
			return &HintError{
				Err: fmt.Errorf("restore: %w: %d secrets in the backup were sealed with the master key whose fingerprint is %s, not with %s",
					ErrKeyMismatch, n, fp, key.Fingerprint()),
				Hint: "pass the master key those secrets were sealed with, with --key-file",
			}
		}
	}
	return nil
}

// checkSpace refuses a restore whose new state would not fit beside the
// old one. The database takes about twice its rows' JSON size (indexes
// and pages); blobs take their size.
func checkSpace(dir string, m *format.Manifest) error {
	var need int64 = 64 << 20
	for _, f := range m.Files {
		if f.Blob != "" {
			need += f.RawSize
		} else {
			need += 2 * f.RawSize
		}
	}
	avail, ok, err := freeSpace(dir)
	if err != nil {
		return fmt.Errorf("restore: free space of %s: %w", dir, err)
	}
	if ok && avail < need {
		return &HintError{
			Err:  fmt.Errorf("restore: %w in %s: %d bytes free, the restored state needs about %d", ErrNoSpace, dir, avail, need),
			Hint: "free some space (an old <data-dir>.before-restore-* directory, perhaps) and try again",
		}
	}
	return nil
}

// builder builds the restored state in the staging directory.
type builder struct {
	ctx     context.Context
	dir     string // the backup
	name    string // its name
	staging string
	m       *format.Manifest
	key     secret.Key
	keys    *format.Keys // for openContent: nil for a plain backup
	check   *fileCheck   // checks the backup's files as they are read
	opts    RestoreOptions
	now     func() time.Time
	logger  *slog.Logger
	// beginSwitch, if set, is called by buildTarget as it begins to
	// change the data directory and the database: the master key, then
	// the target's Commit.
	beginSwitch func()
	// segments checks the sealed audit segments as their files are
	// copied (segcheck.go); nil when the backup has none.
	segments *segmentChecks
}

func (b *builder) progress(p Progress) {
	if b.opts.Progress != nil {
		b.opts.Progress(p)
	}
}

// build creates the database at the backup's schema version, loads the
// rows, copies the blobs, migrates to this binary's schema, checks the
// audit chain, records the restore, installs the key and fsyncs it all.
func (b *builder) build() (instanceID, cloneOf string, err error) {
	sdir := datadir.Dir(b.staging)
	// The staging database is loaded without fsyncs and with its
	// rollback journal in memory (LocalDB.OpenStaging). That is crash-safe
	// because nothing uses it before it is complete and durable: a crash
	// or error before the switch leaves a staging directory that the next
	// restore or open removes (doc.go, "A crash before step 8"), and the
	// switch comes only after the database is closed, back in WAL mode
	// (LocalDB.FinishStaging), and syncTree has fsynced it.
	db, err := b.opts.Local.OpenStaging(b.ctx, sdir.DB())
	if err != nil {
		return "", "", fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	db.Blobs = blob.NewStore(sdir.Blobs())
	// Like the database, the blobs are fsynced by syncTree below, once,
	// rather than one by one as they are put.
	db.Blobs.NoSync = true
	if instanceID, cloneOf, err = b.fill(db, nil); err != nil {
		return "", "", err
	}
	err = db.Close()
	db = nil
	if err != nil {
		return "", "", fmt.Errorf("restore: %w", err)
	}
	if err := b.opts.Local.FinishStaging(b.ctx, sdir.DB()); err != nil {
		return "", "", fmt.Errorf("restore: %w", err)
	}
	if err := fsutil.WriteFileNew(sdir.Key(), []byte(hex.EncodeToString(b.key[:])+"\n"), filePerm); err != nil {
		return "", "", fmt.Errorf("restore: install master key: %w", err)
	}
	os.Remove(filepath.Join(sdir.Blobs(), "tmp")) // empty unless something failed
	if err := syncTree(b.staging); err != nil {
		return "", "", fmt.Errorf("restore: sync: %w", err)
	}
	return instanceID, cloneOf, nil
}

// buildTarget builds the restored state in the database t stages, its
// blobs in dir's blob store (content-addressed, so new blobs go beside
// the existing ones and nothing is replaced), installs the master key
// in dir when it has none, and has t switch to the new state.
func (b *builder) buildTarget(t Target, dir datadir.Dir, res *RestoreResult) (err error) {
	db, err := t.Stage(b.ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if cerr := t.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("restore: %w", cerr)
		}
	}()
	db.Blobs = blob.NewStore(dir.Blobs())
	loader, _ := t.(RowLoader)
	if res.InstanceID, res.CloneOf, err = b.fill(db, loader); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir.Blobs(), "tmp")) // empty unless something failed
	// The last chance to stop with nothing but unused blobs left behind.
	if err := b.ctx.Err(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if b.beginSwitch != nil {
		b.beginSwitch()
	}
	if _, err := os.Stat(dir.Key()); errors.Is(err, fs.ErrNotExist) {
		if err := fsutil.WriteFileNew(dir.Key(), []byte(hex.EncodeToString(b.key[:])+"\n"), filePerm); err != nil {
			return fmt.Errorf("restore: install master key: %w", err)
		}
		if err := fsutil.SyncDir(dir.Path()); err != nil {
			return fmt.Errorf("restore: sync: %w", err)
		}
	}
	res.Previous, err = t.Commit(b.ctx, b.opts.DiscardPrevious)
	return err
}

// checkTargetKey refuses a restore into a target whose data directory
// holds another master key than the one the restored secrets need: the
// server would read that one. (Restoring into the data directory's SQLite
// database replaces the whole directory, key included.)
func checkTargetKey(path string, key secret.Key) error {
	have, err := secret.ReadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return &HintError{Err: fmt.Errorf("restore: the data directory's master key: %w", err), Hint: secretHint(err)}
	}
	if have.Fingerprint() != key.Fingerprint() {
		return &HintError{
			Err: fmt.Errorf("restore: %w: the data directory's %s has fingerprint %s, the restored state needs the key whose fingerprint is %s",
				ErrKeyMismatch, path, have.Fingerprint(), key.Fingerprint()),
			Hint: "restore with a new --data-dir, or move that master.key away first",
		}
	}
	return nil
}

// fill builds the restored state in db, a new empty database whose Blobs
// are set: the schema at the backup's version, the rows (through loader
// when not nil, else INSERTs in one transaction; each table read ahead
// on a second goroutine, and the audit chain checked on the way) and at
// the same time the blobs (builder.load), the later migrations, the
// audit chain's final check (checkAudit), and the restore's record.
func (b *builder) fill(db *store.DB, loader RowLoader) (instanceID, cloneOf string, err error) {
	ctx, m := b.ctx, b.m
	db.Now = b.now
	db.Logger = slog.New(slog.DiscardHandler)
	db.Key = b.key
	if err := db.MigrateTo(ctx, m.SchemaVersion); err != nil {
		return "", "", fmt.Errorf("restore: build schema version %d: %w", m.SchemaVersion, err)
	}
	tables, err := b.matchSchema(db)
	if err != nil {
		return "", "", err
	}
	audit := newAuditStream(tables)
	b.segments = b.segmentIndex(tables)
	if err := b.load(db, loader, tables, audit); err != nil {
		return "", "", err
	}
	if err := b.checkUnread(); err != nil {
		return "", "", err
	}
	if err := db.Migrate(ctx); err != nil {
		return "", "", fmt.Errorf("restore: migrate from schema version %d: %w", m.SchemaVersion, err)
	}
	if err := b.checkAudit(db, audit, m.SchemaVersion != store.LatestSchemaVersion()); err != nil {
		return "", "", err
	}
	if instanceID, cloneOf, err = b.record(db); err != nil {
		return "", "", err
	}
	return instanceID, cloneOf, b.seal(db)
}

// seal seals the restored audit log's full segments into db.Blobs, as a
// server does (store.DB.SealAudit), before the switch: a backup of
// formats 1 to 4 holds the whole history as rows, which then land as
// sealed segments, so that the restored state looks like a long-running
// server's and the next backup copies segments instead of rows. A format
// 5 backup holds at most a segment or two of live tail, so this seals
// little or nothing.
func (b *builder) seal(db *store.DB) error {
	db.AuditSegmentSize = b.opts.AuditSegmentSize
	b.progress(Progress{Phase: "seal", ItemsTotal: 1})
	if _, err := db.SealAudit(b.ctx); err != nil {
		return fmt.Errorf("restore: seal the audit log: %w", err)
	}
	b.progress(Progress{Phase: "seal", Items: 1, ItemsTotal: 1})
	return nil
}

// rows returns the rows of the backup's table t as a sequence; a read
// error ends it.
func (b *builder) rows(t format.Table) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		errStop := errors.New("stopped")
		_, err := forEachRow(b.ctx, b.dir, t, b.keys, b.check, func(row []any) error {
			if !yield(row, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(nil, err)
		}
	}
}

// matchSchema checks that the tables of the fresh schema are exactly the
// backup's, with the same columns, and returns them in load order.
func (b *builder) matchSchema(db *store.DB) ([]store.Table, error) {
	tables, err := db.StateTables(b.ctx, db.Read)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	inBackup := map[string]format.Table{}
	for _, t := range b.m.Tables {
		inBackup[t.Name] = t
	}
	for _, t := range tables {
		mt, ok := inBackup[t.Name]
		if !ok {
			return nil, fmt.Errorf("restore: %w: schema version %d has table %s, which the backup lacks (incomplete backup)", ErrMalformed, b.m.SchemaVersion, t.Name)
		}
		if !slices.Equal(mt.Columns, formatColumns(t.Columns)) {
			return nil, fmt.Errorf("restore: %w: table %s: the backup's columns %v differ from schema version %d's %v", ErrMalformed, t.Name, mt.Columns, b.m.SchemaVersion, t.Columns)
		}
		delete(inBackup, t.Name)
	}
	for name := range inBackup {
		return nil, fmt.Errorf("restore: %w: the backup has table %s, which schema version %d does not", ErrMalformed, name, b.m.SchemaVersion)
	}
	return tables, nil
}

// copyBlobFiles decodes every blob of the backup into st, checking each
// against its id and its file against the manifest (b.check) in the same
// read, and calls done with each one's size. It runs beside the load of
// the tables (builder.load), with its context, on blobWorkers goroutines,
// each taking the largest blob not yet taken; the first error stops the
// others, and is the one returned. done is called from those goroutines.
func (b *builder) copyBlobFiles(ctx context.Context, st *blob.Store, done func(size int64)) error {
	var files []format.File
	for _, f := range b.m.Files {
		if f.Blob != "" {
			files = append(files, f)
		}
	}
	slices.SortStableFunc(files, func(x, y format.File) int { return cmp.Compare(y.RawSize, x.RawSize) })
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(blobWorkers(), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= len(files) {
					return
				}
				if err := b.copyBlobFile(ctx, st, files[k]); err != nil {
					cancel(err)
					return
				}
				done(files[k].RawSize)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("restore: %w", err)
		}
		return err
	}
	return nil
}

// copyBlobFile decodes the blob of the backup's file f into st, checking
// it against its id and the file against the manifest.
func (b *builder) copyBlobFile(ctx context.Context, st *blob.Store, f format.File) error {
	// A plain backup's file stored as it is holds the blob's bytes: their
	// SHA-256, which Put computes, is the file's and the blob's at once.
	check, same := b.check, b.keys == nil && f.Encoding == format.EncodingNone && f.SHA256 == f.Blob
	if same {
		check = nil
	}
	r, err := openChecked(b.dir, f.Path, f.Encoding, b.keys, check)
	if err != nil {
		return &FileError{Op: "restore", Path: f.Path, Err: err}
	}
	// A sealed segment's bytes are kept as Put reads them, to be checked
	// against its index row once they are known to be the blob's.
	src := io.Reader(r)
	segs := b.segments.segmentRows(f.Blob)
	var kept *keptBytes
	if segs != nil && f.RawSize >= 0 && f.RawSize <= maxSegmentInMemory {
		kept = &keptBytes{b: make([]byte, 0, f.RawSize), max: f.RawSize}
		src = io.TeeReader(r, kept)
	}
	id, size, err := st.Put(ctx, src, 0)
	r.Close()
	if err != nil {
		return &FileError{Op: "restore", Path: f.Path, Err: err}
	}
	if id != f.Blob || size != f.RawSize {
		return &FileError{Op: "restore", Path: f.Path, Err: fmt.Errorf("%w: decodes to %d bytes with SHA-256 %s", ErrChecksumMismatch, size, id)}
	}
	if same && b.check != nil {
		b.check.pass(f.Path)
	}
	if st.NoSync && writeback {
		startWriteback(st.Path(id))
	}
	if kept != nil && !kept.over {
		b.segments.check(segs, kept.b)
	}
	return nil
}

// writeback makes copyBlobFile start the write-back of each blob it puts
// without an fsync ([startWriteback]). Tests turn it off to compare.
var writeback = true

// keptBytes keeps the bytes written to it, up to max; beyond, it keeps
// none and sets over. It never fails.
type keptBytes struct {
	b    []byte
	max  int64
	over bool
}

func (k *keptBytes) Write(p []byte) (int, error) {
	if !k.over && int64(len(k.b)+len(p)) <= k.max {
		k.b = append(k.b, p...)
	} else {
		k.over, k.b = true, nil
	}
	return len(p), nil
}

// checkUnread checks the files that b.check was to check as they were
// read, and did not see pass: none, unless a reader stopped short of a
// file's end. It is the last line of the guarantee that a restore
// switches only to a backup all of whose files match the manifest.
func (b *builder) checkUnread() error {
	if b.check == nil {
		return nil
	}
	unread := map[string]bool{}
	for _, p := range b.check.rest() {
		unread[p] = true
	}
	if len(unread) == 0 {
		return nil
	}
	if err := checkFilesBut(b.ctx, b.dir, b.m.Public(), nil, nil, func(f format.File) bool { return !unread[f.Path] }); err != nil {
		return fmt.Errorf("restore: backup %s: %w", b.name, err)
	}
	return nil
}

// checkBlobRows checks that the blobs table and the count blob files
// copied agree: every row has its file.
func (b *builder) checkBlobRows(db *store.DB, count int64) error {
	var rows int64
	err := db.ReadTx(b.ctx, func(tx *store.Tx) error {
		q, err := tx.Query(b.ctx, `SELECT id FROM blobs ORDER BY id`)
		if err != nil {
			return err
		}
		defer q.Close()
		for q.Next() {
			var id string
			if err := q.Scan(&id); err != nil {
				return err
			}
			rows++
			if _, err := db.Blobs.Stat(id); errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidID) {
				return fmt.Errorf("%w: the blobs table lists %s, which has no file in the backup", ErrMalformed, id)
			} else if err != nil {
				return err
			}
		}
		return q.Err()
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if rows != count {
		return fmt.Errorf("restore: %w: %d blob files for %d rows of the blobs table", ErrMalformed, count, rows)
	}
	return nil
}

// record marks the restored state: meta restored_from, a new identity for
// a copy, runs that were in progress failed as interrupted
// ([store.DB.FailInterruptedRuns]), and the restore's audit entry.
func (b *builder) record(db *store.DB) (instanceID, cloneOf string, err error) {
	by := b.opts.RestoredBy
	if by == "" {
		by = osUser()
	}
	mode := "plain"
	if b.opts.AsCopy {
		mode = "copy"
	}
	err = db.WriteTx(b.ctx, func(tx *store.Tx) error {
		var err error
		if instanceID, err = tx.Meta(b.ctx, store.MetaInstanceID); err != nil {
			return err
		}
		if err := tx.SetMeta(b.ctx, store.MetaRestoredFrom, b.name); err != nil {
			return err
		}
		if b.opts.AsCopy {
			if instanceID, cloneOf, err = tx.MarkAsCopy(b.ctx); err != nil {
				return err
			}
		}
		actx := bitnobi.NewContextWithActor(b.ctx, &bitnobi.Actor{Username: by})
		// A run in progress when the backup was taken has no process
		// to finish it in the restored state.
		if _, err := tx.FailInterruptedRuns(actx); err != nil {
			return err
		}
		return tx.Audit(actx, bitnobi.ActionRestore, "backup", b.name, map[string]any{
			"backup":         b.name,
			"created_at":     bitnobi.FormatTime(b.m.CreatedAt),
			"mode":           mode,
			"restored_by":    by,
			"app_version":    b.m.AppVersion,
			"schema_version": b.m.SchemaVersion,
			"instance_id":    b.m.InstanceID,
		})
	})
	if err != nil {
		return "", "", fmt.Errorf("restore: record the restore: %w", err)
	}
	return instanceID, cloneOf, nil
}

// osUser names the user running the process.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}
