package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// Progress tells how far a long operation has come. Totals are 0 when
// not known in advance.
type Progress struct {
	Phase      string // "tables", "blobs", "verify", "load", "seal" (restore: the audit log's full segments)
	Items      int64  // tables, blobs or files done
	ItemsTotal int64
	Bytes      int64 // bytes done, decoded
	BytesTotal int64
}

// CreateOptions configures [Create].
type CreateOptions struct {
	// DataDir is the data directory to back up. Required.
	DataDir string
	// Folder is the backup folder the new backup goes into, created if
	// missing. It must not be inside DataDir. Required.
	Folder string
	// KeyFile is the master key's path, read for its fingerprint (and,
	// for an encrypted backup, to carry the key); "" means
	// DataDir/master.key.
	KeyFile string
	// OpenDB, if set, opens the database to back up, without migrating
	// it (e.g. postgres.OpenWith for a server run with --db); the backup
	// closes it. nil means the database file in DataDir, opened with
	// Local. Blobs are
	// read from DataDir either way.
	OpenDB func(ctx context.Context) (*store.DB, error)
	// Local opens the data directory's own database file when OpenDB is
	// nil; nil means the registered engine (see [LocalDB]).
	Local LocalDB
	// Encrypt, if set, encrypts the backup: every file is age-encrypted,
	// and the backup carries the master key in its encrypted part (see
	// docs/backup-format.md). nil writes a plain backup.
	Encrypt *format.EncryptOptions
	// LockWait is how long to wait while another backup writes into
	// Folder; 0 fails at once with an error matching [lockfile.ErrLocked].
	LockWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, if set, is called as work advances, from the calling
	// goroutine.
	Progress func(Progress)
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
}

// Result describes a backup [Create] wrote.
type Result struct {
	Name     string           // directory name, e.g. backup-20250102_1504
	Path     string           // absolute path of the backup directory
	Manifest *format.Manifest // its manifest
	// RemovedTemp lists the temporary directories of interrupted backups
	// that were removed first.
	RemovedTemp []string
	// Warnings are problems that did not stop the backup.
	Warnings []string
	Duration time.Duration
}

// blobRef is a row of the snapshot's blobs table.
type blobRef struct {
	id   string
	size int64
}

// Create writes a backup of the data directory opts.DataDir into a new
// directory of opts.Folder, and returns where. See the package
// documentation for the algorithm, whose numbered steps are the methods
// of creator it calls in turn; it works while a server runs on the data
// directory, and does not take the server's lock.
func Create(ctx context.Context, opts CreateOptions) (res *Result, err error) {
	start := time.Now()
	c, err := newCreator(opts) // step 1: finish an interrupted restore
	if err != nil {
		return nil, err
	}
	lock, err := c.lockFolder(ctx) // step 2
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	db, err := c.openDB(ctx) // step 3
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Step 4: from before the snapshot until every blob it lists is
	// copied, the blob collector must not run: it takes this lock
	// exclusively.
	gcLock, err := lockfile.AcquireWait(ctx, c.dir.GCLock(), "backup", true)
	if err != nil {
		return nil, fmt.Errorf("backup: wait for the blob collector: %w", err)
	}
	defer gcLock.Release()

	if err := c.makeTemp(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(c.w.tmp)
		}
	}()
	defer func() {
		// Before the deferred removal of the temporary directory, so
		// that no copy writes into it after.
		if c.bc != nil {
			c.bc.stop()
		}
		c.w.syncer.wait() // the files it holds open, on the way out of a failed backup
	}()
	if err := c.snapshot(ctx, db); err != nil { // step 5
		return nil, err
	}
	if err := c.copyBlobs(ctx); err != nil { // step 6
		return nil, err
	}
	if err := gcLock.Release(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := c.publish(); err != nil { // step 7
		return nil, err
	}
	c.res.Duration = time.Since(start)
	return c.res, nil
}

// creator holds the state of one [Create] from step to step.
type creator struct {
	opts    CreateOptions
	now     func() time.Time
	logger  *slog.Logger
	dataDir string // absolute
	folder  string // absolute
	dir     datadir.Dir
	keyFile string
	key     secret.Key
	res     *Result

	prev  *Info           // the newest complete backup in folder, or nil
	crypt *format.Cryptor // nil for a plain backup
	base  string          // the new backup's name, before any -2, -3...
	w     *writer
	m     *format.Manifest
	refs  []blobRef   // the snapshot's blobs table
	bc    *blobCopier // copies the snapshot's blobs, started within it
}

// newCreator checks opts, finishes an interrupted restore of the data
// directory (step 1) and reads the master key, whose fingerprint the
// backup records.
func newCreator(opts CreateOptions) (*creator, error) {
	if opts.DataDir == "" || opts.Folder == "" {
		return nil, errors.New("backup: data directory and backup folder are required")
	}
	c := &creator{opts: opts, now: opts.Now, logger: opts.Logger, res: &Result{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	var err error
	if c.dataDir, err = filepath.Abs(opts.DataDir); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if c.folder, err = filepath.Abs(opts.Folder); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if fsutil.Within(c.folder, c.dataDir) {
		return nil, &HintError{
			Err:  fmt.Errorf("backup: backup folder %s is inside the data directory %s: a backup must not live with the state it protects", c.folder, c.dataDir),
			Hint: "use a backup folder beside the data directory",
		}
	}
	c.dir = datadir.Dir(c.dataDir)
	if err := RecoverInterruptedRestore(c.dataDir); err != nil {
		return nil, err
	}
	if opts.OpenDB == nil {
		if c.opts.Local = localDB(opts.Local); c.opts.Local == nil {
			return nil, errNoLocal
		}
		if _, err := os.Stat(c.dir.DB()); err != nil {
			return nil, &HintError{Err: fmt.Errorf("backup: no Bitnobi database in %s: %w", c.dataDir, err), Hint: "check --data-dir"}
		}
	}
	c.keyFile = opts.KeyFile
	if c.keyFile == "" {
		c.keyFile = c.dir.Key()
	}
	if c.key, err = secret.ReadKeyFile(c.keyFile); err != nil {
		return nil, backupKeyError(err, c.keyFile)
	}
	return c, nil
}

// lockFolder takes the backup folder's lock (step 2), creating the folder
// if missing, removes the temporary directories of interrupted backups,
// finds the previous backup to link from and, for an encrypted backup,
// makes its Cryptor.
func (c *creator) lockFolder(ctx context.Context) (*lockfile.Lock, error) {
	if err := os.MkdirAll(c.folder, dirPerm); err != nil {
		return nil, fmt.Errorf("backup: create backup folder: %w", err)
	}
	lock, err := lockFolder(ctx, c.folder, c.opts.LockWait)
	if err != nil {
		return nil, err
	}
	if err := c.afterLock(); err != nil {
		lock.Release()
		return nil, err
	}
	return lock, nil
}

// afterLock is what step 2 does under the folder's lock.
func (c *creator) afterLock() error {
	var err error
	if c.res.RemovedTemp, err = removeStaleTemp(c.folder); err != nil {
		return err
	}
	if c.prev, err = previousBackup(c.folder); err != nil {
		return err
	}
	if c.opts.Encrypt != nil {
		var prevDir string
		var prevManifest *format.Manifest
		if c.prev != nil {
			prevDir, prevManifest = c.prev.Path, c.prev.Manifest
		}
		if c.crypt, err = format.NewCryptor(c.opts.Encrypt, c.key, prevDir, prevManifest); err != nil {
			return err
		}
		if c.crypt.PrevWarning != "" {
			c.res.Warnings = append(c.res.Warnings, c.crypt.PrevWarning)
		}
	}
	return nil
}

// openDB opens the database without migrating it (step 3).
func (c *creator) openDB(ctx context.Context) (*store.DB, error) {
	var db *store.DB
	var err error
	if c.opts.OpenDB != nil {
		db, err = c.opts.OpenDB(ctx)
	} else {
		db, err = c.opts.Local.OpenNoMigrate(ctx, c.dir.DB())
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	db.Now = c.now
	db.Logger = c.logger
	return db, nil
}

// makeTemp creates the temporary directory the backup is written in, and
// the writer that writes it.
func (c *creator) makeTemp() error {
	c.base = Name(c.now())
	tmp, err := os.MkdirTemp(c.folder, tmpPrefix+strings.TrimPrefix(c.base, Prefix)+"-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	c.w = &writer{
		tmp:      tmp,
		progress: c.opts.Progress,
		blobs:    blob.NewStore(c.dir.Blobs()),
		logger:   c.logger,
		shards:   map[string]bool{},
		crypt:    c.crypt,
	}
	for _, d := range []string{"tables", "blobs"} {
		if err := os.Mkdir(filepath.Join(tmp, d), dirPerm); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	c.w.syncer = newFileSyncer()
	return nil
}

// snapshot reads the database in one read transaction (step 5): the
// schema version and instance, the blobs table (starting their copy,
// step 6, on the other cores), and every table's rows, written or linked
// into the backup's table files.
func (c *creator) snapshot(ctx context.Context, db *store.DB) error {
	c.m = &format.Manifest{
		Format:     format.FormatVersion,
		AppVersion: bitnobi.Version,
		Engine:     db.Dialect.Name(),
		MasterKey:  format.KeyInfo{Fingerprint: c.key.Fingerprint(), Mode: format.KeyExternal},
	}
	if c.crypt != nil {
		c.m.MasterKey.Mode = format.KeySealed
		c.m.Encryption = &format.Encryption{Scheme: format.EncryptionScheme, Mode: c.crypt.Mode()}
	}
	c.m.Host, _ = os.Hostname()
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		if err := c.readFacts(ctx, db, tx); err != nil {
			return err
		}
		// The blobs are copied on the other cores while this one writes
		// the tables.
		var err error
		if c.bc, err = c.w.startBlobs(ctx, tx, c.prev); err != nil {
			return err
		}
		return c.writeTables(ctx, db, tx)
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Join(c.w.tmp, "tables")); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// readFacts reads what the manifest records of the snapshot tx: its
// schema version (refusing one newer than this binary knows), time and
// instance ID, and warns of secrets sealed with another master key.
func (c *creator) readFacts(ctx context.Context, db *store.DB, tx *store.Tx) error {
	v, err := store.SchemaVersionOf(ctx, tx, db.Dialect)
	if err != nil {
		return err
	}
	if latest := store.LatestSchemaVersion(); v > latest {
		return &HintError{
			Err:  fmt.Errorf("%w: the database has schema version %d, this bitnobi %s knows up to %d", ErrNewerVersion, v, bitnobi.Version, latest),
			Hint: "back up with the bitnobi binary the server runs, or a newer one",
		}
	}
	if v == 0 {
		return fmt.Errorf("the database in %s has no schema yet: start the server once", c.dataDir)
	}
	c.m.SchemaVersion = v
	c.m.CreatedAt = tx.Now().UTC()
	if c.m.InstanceID, err = tx.Meta(ctx, store.MetaInstanceID); err != nil {
		return err
	}
	fps, err := store.SecretKeyFingerprints(ctx, tx)
	if err != nil {
		return err
	}
	for _, fp := range fps {
		if fp != c.key.Fingerprint() {
			c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("some secrets were sealed with master key %s, not with the key in %s (%s): they cannot be opened after a restore", fp, c.keyFile, c.key.Fingerprint()))
		}
	}
	return nil
}

// writeTables writes, or links from the previous backup, every state
// table of the snapshot tx, and collects the blobs table's rows.
func (c *creator) writeTables(ctx context.Context, db *store.DB, tx *store.Tx) error {
	tables, err := db.StateTables(ctx, tx)
	if err != nil {
		return err
	}
	stamps, err := store.ChangeStamps(ctx, tx, db.Dialect)
	if err != nil {
		return err
	}
	w, m := c.w, c.m
	src := newTableSource(c.prev, m, c.crypt, c.logger)
	for i, t := range tables {
		var onRow func([]any) error
		if t.Name == "blobs" {
			if onRow, err = collectBlobs(t, &c.refs); err != nil {
				return err
			}
		}
		entry, files, linked, err := w.backupTable(ctx, db, tx, t, stamps[t.Name], src, onRow)
		if err != nil {
			return fmt.Errorf("back up table %s: %w", t.Name, err)
		}
		m.Tables = append(m.Tables, entry)
		m.Files = append(m.Files, files...)
		m.Stats.Rows += entry.Rows
		m.Stats.FilesLinked += int64(linked)
		for _, f := range files {
			if w.linkedPaths[f.Path] {
				m.Stats.BytesLinked += f.Size
			}
		}
		w.report(Progress{Phase: "tables", Items: int64(i + 1), ItemsTotal: int64(len(tables)), Bytes: w.tableBytes()})
	}
	return nil
}

// copyBlobs waits for the copy of the snapshot's blobs (step 6) and adds
// them to the manifest. The snapshot's transaction is over (the server's
// WAL can be checkpointed again), but the collector is still held off.
// Copying goes on, now on every core: compressing is most of a backup's
// work.
func (c *creator) copyBlobs(ctx context.Context) error {
	w, m, bc := c.w, c.m, c.bc
	if err := sameBlobs(bc.refs, c.refs); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var total int64
	for _, r := range c.refs {
		total += r.size
	}
	if c.prev != nil {
		m.Previous = c.prev.Name
	}
	if err := bc.wait(total); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := ctx.Err(); err != nil { // cancelled by the last report
		return fmt.Errorf("backup: %w", err)
	}
	if w.linked == nil {
		w.linked = map[string]bool{}
	}
	for i, f := range bc.files {
		m.Files = append(m.Files, f)
		m.Stats.Blobs++
		m.Stats.BlobBytes += f.RawSize
		if bc.linked[i] {
			m.Stats.FilesLinked++
			m.Stats.BytesLinked += f.Size
			w.linked[f.Blob] = true
		}
	}
	return nil
}

// publish seals and publishes the backup (step 7): waits for the fsyncs
// of its files, fsyncs the blob directories, completes the manifest's statistics, writes the sealed
// part of an encrypted backup, then manifest.json, and renames the
// temporary directory into place.
func (c *creator) publish() error {
	w, m, tmp := c.w, c.m, c.w.tmp
	if m.Stats.FilesLinked == 0 {
		m.Previous = ""
	}
	if err := w.syncer.wait(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	dirs := []string{filepath.Join(tmp, "blobs")}
	for shard := range w.shards {
		dirs = append(dirs, shard)
	}
	if err := fsutil.SyncDirs(dirs); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, f := range m.Files {
		if !w.linkedPaths[f.Path] && (f.Blob == "" || !w.linked[f.Blob]) {
			m.Stats.FilesWritten++
			m.Stats.BytesWritten += f.Size
		}
	}
	format.SortFiles(m.Files)

	// An encrypted backup's manifest.json is only its public part; the
	// full manifest and the key go into SealedName, written first.
	pub := m
	if c.crypt != nil {
		var err error
		if pub, err = c.crypt.Seal(tmp, m, c.key); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	data, err := pub.Marshal()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := fsutil.WriteFileNew(filepath.Join(tmp, format.ManifestName), data, filePerm); err != nil {
		return fmt.Errorf("backup: write manifest: %w", err)
	}
	if err := fsutil.SyncDir(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	name, err := renameIntoPlace(tmp, c.folder, c.base)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := fsutil.SyncDir(c.folder); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	c.res.Name, c.res.Path, c.res.Manifest = name, filepath.Join(c.folder, name), m
	return nil
}

// backupKeyError explains an error reading the master key file path, whose
// fingerprint a backup records: where the key should be when it is
// missing, else what to do about the file.
func backupKeyError(err error, path string) error {
	hint := "set BITNOBI_MASTER_KEY_FILE to where the server's master key is"
	switch {
	case errors.Is(err, secret.ErrInsecureKeyFile):
		hint = "chmod 600 " + path
	case errors.Is(err, fs.ErrPermission):
		hint = "back up as a user who can read " + path + " (the server's), or set BITNOBI_MASTER_KEY_FILE to a copy this user can read"
	case errors.Is(err, secret.ErrMalformedKeyFile):
		hint = "the server's master key file is damaged: put back the copy kept apart from the backups (without it the stored passwords cannot be opened)"
	}
	return &HintError{Err: fmt.Errorf("backup: master key (needed for its fingerprint): %w", withoutServerHint(err)), Hint: hint}
}

// renameIntoPlace renames tmp to folder/base, or base-2, base-3... if
// taken, and returns the name used. It never replaces anything.
func renameIntoPlace(tmp, folder, base string) (string, error) {
	for n := 1; n < 10000; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		err := renameNoReplace(tmp, filepath.Join(folder, name))
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", base, folder)
}

// collectBlobs returns a row callback that appends each row of the
// blobs table to refs.
func collectBlobs(t store.Table, refs *[]blobRef) (func([]any) error, error) {
	idCol, sizeCol := -1, -1
	for i, c := range t.Columns {
		switch c.Name {
		case "id":
			idCol = i
		case "size":
			sizeCol = i
		}
	}
	if idCol < 0 || sizeCol < 0 {
		return nil, errors.New("the blobs table has no id or size column")
	}
	return func(row []any) error {
		id, _ := row[idCol].(string)
		size, _ := row[sizeCol].(int64)
		if !blob.ValidID(id) {
			return fmt.Errorf("blobs row %q: not a blob id", id)
		}
		*refs = append(*refs, blobRef{id: id, size: size})
		return nil
	}, nil
}

// writer writes the files of one backup. The blob methods (copyBlob and
// what it calls) run on several goroutines at once; the rest of writer is
// used by one goroutine.
type writer struct {
	tmp      string
	progress func(Progress)
	blobs    *blob.Store
	logger   *slog.Logger
	shardsMu sync.Mutex      // guards shards, which blob copies add to
	shards   map[string]bool // blob shard directories to fsync
	linked   map[string]bool // blob ids hard-linked from the previous backup, set once blobs are copied
	// linkedPaths are the table files hard-linked from the previous backup.
	linkedPaths map[string]bool
	crypt       *format.Cryptor // nil for a plain backup
	// syncer fsyncs the files written, off the goroutines that write
	// them; nil, as in tests, fsyncs each as it is finished.
	syncer   *fileSyncer
	rawDone  int64      // decoded bytes done in the tables phase
	tickMu   sync.Mutex // guards rawDone and lastTick in tick: segments are written on several goroutines
	lastTick time.Time
	// blobBytes counts the decoded bytes of blobs copied or linked, added
	// to by every copying goroutine.
	blobBytes atomic.Int64
}

func (w *writer) report(p Progress) {
	if w.progress != nil {
		w.tickMu.Lock() // one call at a time: tick reports from segment helpers
		defer w.tickMu.Unlock()
		w.progress(p)
	}
}

// tableBytes returns the decoded bytes of tables written so far.
func (w *writer) tableBytes() int64 {
	w.tickMu.Lock()
	defer w.tickMu.Unlock()
	return w.rawDone
}

// tick adds n to the bytes done and reports at most every 100ms. Segments
// are written on several goroutines at once.
func (w *writer) tick(phase string, n int64, p Progress) {
	w.tickMu.Lock()
	defer w.tickMu.Unlock()
	w.rawDone += n
	if w.progress == nil || time.Since(w.lastTick) < 100*time.Millisecond {
		return
	}
	w.lastTick = time.Now()
	p.Phase, p.Bytes = phase, w.rawDone
	w.progress(p)
}

// copyBlob puts blob r into the backup: hard-linked from the previous
// backup when that holds it intact, else read from the live store,
// checked against its id, compressed when that pays, and encrypted for
// an encrypted backup.
//
// It is called on several goroutines at once, and stops when ctx ends.
func (w *writer) copyBlob(ctx context.Context, r blobRef, prev *Info) (format.File, bool, error) {
	if w.crypt != nil {
		return w.copyBlobEncrypted(ctx, r, prev)
	}
	rel := format.BlobFile(r.id)
	dst, err := w.blobPath(rel)
	if err != nil {
		return format.File{}, false, err
	}
	if prev != nil {
		if pf, ok := prev.files[rel]; ok && pf.Blob == r.id {
			f, ok, err := w.linkBlob(ctx, prev, pf, dst)
			if err != nil {
				return format.File{}, false, err
			}
			if ok {
				return f, true, nil
			}
		}
	}
	src, enc, pre, err := w.openBlob(r)
	if err != nil {
		return format.File{}, false, err
	}
	defer src.Close()
	return w.writeBlob(r, ctxReader{ctx, src}, enc, pre, dst, rel)
}

// copyBlobEncrypted is copyBlob for an encrypted backup. The file's name
// is a keyed hash of the blob id and its encoding (see blobName). The
// previous backup's file under either name, if intact, holds the same
// content encrypted for the same keys, and is linked without reading the
// live blob, as a plain backup does (its encoding was decided from that
// same content). Otherwise the encoding decision on the live blob's first
// MiB gives the name of the file written.
func (w *writer) copyBlobEncrypted(ctx context.Context, r blobRef, prev *Info) (format.File, bool, error) {
	if prev != nil {
		for _, enc := range []string{format.EncodingZstd, format.EncodingNone} {
			rel := w.encryptedBlobFile(r.id, enc)
			pf, ok := prev.files[rel]
			if !ok || pf.Encoding != format.EncodingAge {
				continue
			}
			dst, err := w.blobPath(rel)
			if err != nil {
				return format.File{}, false, err
			}
			f, ok, err := w.linkBlob(ctx, prev, pf, dst)
			if err != nil {
				return format.File{}, false, err
			}
			if ok {
				// Only the previous backup's encrypted part knows more;
				// the name vouches for the id and encoding, the blobs
				// table for the size, and restore checks all three.
				f.Encoding, f.RawSize, f.Blob = enc, r.size, r.id
				w.blobBytes.Add(r.size)
				return f, true, nil
			}
		}
	}
	src, enc, pre, err := w.openBlob(r)
	if err != nil {
		return format.File{}, false, err
	}
	defer src.Close()
	rel := w.encryptedBlobFile(r.id, enc)
	dst, err := w.blobPath(rel)
	if err != nil {
		return format.File{}, false, err
	}
	return w.writeBlob(r, ctxReader{ctx, src}, enc, pre, dst, rel)
}

// encryptedBlobFile returns the path, in an encrypted backup, of the file
// of blob id stored with encoding enc.
func (w *writer) encryptedBlobFile(id, enc string) string {
	name := w.crypt.BlobName(id, enc)
	return "blobs/" + name[:2] + "/" + name
}

// preBlob is the start of a blob that openBlob read and compressed to
// decide its encoding: a zstd frame of its first n bytes, and the SHA-256
// state of those bytes. writeBlob writes the frame as the start of the
// blob's file and compresses only the rest, so that no byte is
// compressed twice.
type preBlob struct {
	z     []byte    // a zstd frame of the blob's first n bytes
	h     hash.Hash // SHA-256 of those n bytes, to go on with the rest
	n     int64
	whole bool // the blob ended within the sample: there is no rest
}

// blobPath returns where the blob file rel goes in the backup being
// written, creating its shard directory.
func (w *writer) blobPath(rel string) (string, error) {
	dst := filepath.Join(w.tmp, filepath.FromSlash(rel))
	shard := filepath.Dir(dst)
	w.shardsMu.Lock()
	defer w.shardsMu.Unlock()
	if !w.shards[shard] {
		if err := os.MkdirAll(shard, dirPerm); err != nil {
			return "", err
		}
		w.shards[shard] = true
	}
	return dst, nil
}

// openBlob opens blob r in the live store and decides, from its first
// MiB, how to store it. When the blob is to be compressed, pre holds
// that MiB (or the whole blob, if shorter) compressed and hashed, and the
// reader is just past it; else pre is nil and the reader is at the start
// of the blob.
func (w *writer) openBlob(r blobRef) (src *os.File, enc string, pre *preBlob, err error) {
	src, err = w.blobs.Open(r.id)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", nil, &HintError{
			Err:  fmt.Errorf("blob %s is listed in the blobs table but its file is missing from the data directory", r.id),
			Hint: "restore the data directory from an earlier backup, or remove the records that refer to the blob",
		}
	} else if err != nil {
		return nil, "", nil, err
	}
	bp := format.BufPool.Get().(*[]byte)
	n, err := io.ReadFull(src, (*bp)[:format.SampleSize])
	enc = format.EncodingNone
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		sample := (*bp)[:n]
		if z, ok := format.CompressSample(sample, true); ok {
			enc = format.EncodingZstd
			h := sha256.New()
			h.Write(sample)
			pre = &preBlob{z: z, h: h, n: int64(n), whole: err != nil}
		}
		err = nil
	}
	format.BufPool.Put(bp)
	if err == nil && pre == nil {
		// Stored as it is and copied from the start: reading the sample
		// again costs less than holding its buffer through the copy.
		_, err = src.Seek(0, io.SeekStart)
	}
	if err != nil {
		src.Close()
		return nil, "", nil, fmt.Errorf("read blob %s: %w", r.id, err)
	}
	return src, enc, pre, nil
}

// writeBlob writes blob r to dst (rel in the backup), encoded with enc
// and, for an encrypted backup, encrypted; it checks the content against
// the blob's id.
//
// pre, when not nil (enc is zstd), is the start of the blob, already
// compressed: its frame starts the file, and the rest of the blob, read
// from src unless pre is the whole blob, follows as a second frame (none
// if src has nothing left). A zstd file may be several frames (see
// docs/backup-format.md). When pre is nil, src is the whole blob.
func (w *writer) writeBlob(r blobRef, src io.Reader, enc string, pre *preBlob, dst, rel string) (format.File, bool, error) {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, filePerm)
	if err != nil {
		return format.File{}, false, err
	}
	handed := false // out is the syncer's
	defer func() {
		if !handed {
			out.Close()
		}
	}()
	hw := format.NewHashingWriter(out)
	ew, err := w.crypt.Encrypt(hw)
	if err != nil {
		return format.File{}, false, err
	}
	raw := format.NewHashingWriter(ew) // the content, whose SHA-256 is the id
	if pre != nil {
		if _, err := ew.Write(pre.z); err != nil {
			return format.File{}, false, fmt.Errorf("copy blob %s: %w", r.id, err)
		}
		w.blobBytes.Add(pre.n)
		raw.H, raw.N = pre.h, pre.n
	}
	var zw *frameWriter
	if pre == nil || !pre.whole {
		if enc == format.EncodingZstd {
			zw = &frameWriter{w: ew, size: r.size - raw.N}
			defer zw.Close()
			raw.W = zw
		}
		if _, err := format.CopyBuf(raw, src, func(n int64) { w.blobBytes.Add(n) }); err != nil {
			return format.File{}, false, fmt.Errorf("copy blob %s: %w", r.id, err)
		}
	}
	if got := raw.Sum(); got != r.id {
		return format.File{}, false, &HintError{
			Err:  fmt.Errorf("blob %s in the data directory is damaged: its content hashes to %s", r.id, got),
			Hint: "restore the blob from an earlier backup (bitnobi backups verify --all)",
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return format.File{}, false, err
		}
	}
	if err := ew.Close(); err != nil {
		return format.File{}, false, err
	}
	handed = true
	if err := w.syncer.finish(out, rel); err != nil {
		return format.File{}, false, err
	}
	return format.File{Path: rel, Size: hw.N, SHA256: hw.Sum(), Encoding: enc, RawSize: raw.N, Blob: r.id}, false, nil
}

// linkBlob hard-links the previous backup's file pf to dst and checks it
// against pf's checksum, so a damaged copy is never carried forward. It
// reports false, leaving nothing at dst, when the caller should copy the
// blob afresh instead. The caller records the link in w.linked.
func (w *writer) linkBlob(ctx context.Context, prev *Info, pf format.File, dst string) (format.File, bool, error) {
	if err := ctx.Err(); err != nil {
		return format.File{}, false, err
	}
	src := filepath.Join(prev.Path, filepath.FromSlash(pf.Path))
	if !prev.intact(src, pf) {
		w.logger.Warn("previous backup's copy of a blob was changed after that backup; copying it afresh", "backup", prev.Name, "file", pf.Path)
		return format.File{}, false, nil
	}
	if err := os.Link(src, dst); err != nil {
		return format.File{}, false, nil // another file system, or no hard links: copy
	}
	if pf.Blob != "" { // a plain backup's entry; an encrypted one's is completed by the caller
		w.blobBytes.Add(pf.RawSize)
	}
	return pf, true, nil
}

// lockFolder takes the backup folder's lock, which one writing backup
// holds at a time.
func lockFolder(ctx context.Context, folder string, wait time.Duration) (*lockfile.Lock, error) {
	p := filepath.Join(folder, LockName)
	var l *lockfile.Lock
	var err error
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		l, err = lockfile.AcquireWait(wctx, p, "backup", false)
		cancel()
	} else {
		l, err = lockfile.Acquire(p, "backup")
	}
	if err == nil {
		return l, nil
	}
	if cerr := ctx.Err(); cerr != nil { // interrupted while waiting
		return nil, fmt.Errorf("wait for backup folder %s: %w", folder, cerr)
	}
	var he *lockfile.HeldError
	if errors.As(err, &he) {
		who := "another backup"
		if he.PID > 0 {
			who = fmt.Sprintf("another backup (pid %d", he.PID)
			if !he.Since.IsZero() {
				who += ", since " + he.Since.Format(time.RFC3339)
			}
			who += ")"
		}
		if wait > 0 {
			return nil, &HintError{
				Err:  fmt.Errorf("backup folder %s is still in use by %s after waiting %s: %w", folder, who, wait, lockfile.ErrLocked),
				Hint: "wait for it to finish, or pass a longer --wait",
			}
		}
		return nil, &HintError{
			Err:  fmt.Errorf("backup folder %s is in use by %s: %w", folder, who, lockfile.ErrLocked),
			Hint: "wait for it to finish, or pass --wait 30m to wait",
		}
	}
	return nil, fmt.Errorf("lock backup folder: %w", err)
}

// removeStaleTemp removes the temporary directories of interrupted
// backups. The caller holds the folder's lock, so none has a writer.
func removeStaleTemp(folder string) ([]string, error) {
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !IsTemp(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(folder, e.Name())); err != nil {
			return removed, fmt.Errorf("backup: remove interrupted backup: %w", err)
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		if err := fsutil.SyncDir(folder); err != nil {
			return removed, fmt.Errorf("backup: %w", err)
		}
	}
	return removed, nil
}

// previousBackup returns the complete backup in folder with the newest
// name (see nameLess), indexed for linking, or nil.
func previousBackup(folder string) (*Info, error) {
	names, err := backupNames(folder)
	if err != nil {
		return nil, fmt.Errorf("find the previous backup: %w", err)
	}
	// Newest name first: names follow the time they were taken, and a
	// manifest is read only until one is whole (a folder of a year of
	// backups holds hundreds, each read and checked in full).
	for _, name := range slices.Backward(names) {
		in := &Info{Name: name, Path: filepath.Join(folder, name)}
		if in.Manifest, in.Err = format.ReadManifest(in.Path); in.Err != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(in.Path, format.ManifestName))
		if err != nil {
			continue
		}
		in.completed = fi.ModTime()
		in.files = make(map[string]format.File, len(in.Manifest.Files))
		for _, f := range in.Manifest.Files {
			in.files[f.Path] = f
		}
		return in, nil
	}
	return nil, nil
}
