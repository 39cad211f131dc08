// Package backup writes, verifies and restores backups of a Bitnobi data
// directory: every table that holds state and every blob, as a plain
// directory that any later version of Bitnobi can restore. The format is
// specified in docs/backup-format.md; this comment describes the
// algorithms and what a crash at each step leaves behind.
//
// # Layout
//
//	backup-20250102_1504/
//	    manifest.json               written last; lists every other file
//	    tables/<table>.<n>.jsonl.zst  one JSON array per row, PK order, zstd
//	    blobs/<aa>/<sha256>           blob content, zstd or as is
//
// A table is one or more segments (format 3): a table whose key is one
// INTEGER column (audit_log) is split by key into ranges of
// [format.SegmentKeys], so that appending rewrites only the last; formats 1 and
// 2, which are still read, had one tables/<table>.jsonl.zst each.
//
// An encrypted backup ([CreateOptions].Encrypt; format 2 and later, format
// 4 adding the sealed link index of step 7) age-encrypts
// every file but manifest.json, which keeps only what listing needs and
// the SHA-256 of each ciphertext; manifest.age holds the full manifest,
// a copy of manifest.json that authenticates it, and the master key.
// Blob files are named by HMAC-SHA256 of the blob id under a key derived
// from the master key and the recipients, so that consecutive backups to
// the same recipients can link them without revealing the ids. Keys
// ([format.Keys], [format.LoadKeys]) unlock it; every read of a file's content goes
// through one function, [format.OpenContent], which decrypts.
//
// # Create
//
// [Create] works while a server runs on the data directory and does not
// take the server's lock (bitnobi.lock). It calls one method of creator
// (create.go) for each step: newCreator (1), lockFolder (2), openDB (3),
// snapshot (5, with readFacts and writeTables), copyBlobs (6) and
// publish (7).
//
//  1. Finish an interrupted restore of the data directory, if any
//     ([RecoverInterruptedRestore]).
//  2. Take the backup folder's lock (B/.lock) exclusively, so that backups
//     into one folder run one at a time, and remove the temporary
//     directories (.tmp-backup-*) of interrupted backups: holding the lock
//     proves their writers are gone.
//  3. Open the database without migrating it ([CreateOptions].OpenDB,
//     e.g. PostgreSQL, or else the data directory's SQLite file through
//     [CreateOptions].Local, by default the registered [LocalDB]); refuse
//     if its schema is newer than this binary knows.
//  4. Take gc.lock shared. The blob collector ([store.DB.CollectGarbage])
//     takes it exclusively, so from here until step 6 no blob row or file
//     is collected.
//  5. In one read transaction (one SQLite snapshot, which in WAL mode
//     never blocks the server's writers; on PostgreSQL one REPEATABLE
//     READ, READ ONLY transaction, which never blocks them either) read
//     the blobs table and start copying blobs on GOMAXPROCS-1 goroutines
//     (step 6), read the tables' change stamps (store.ChangeStamps), and
//     write each table's rows, in primary-key order, to segment files in
//     a new directory B/.tmp-backup-*. A table whose stamp equals the one
//     the newest complete backup in B recorded (same instance, engine and
//     schema) is hard-linked from it instead, as is each audit segment
//     whose first key, last key and last line are unchanged (and, in a
//     table whose stamp changed, each segment of one row whose key and
//     line are unchanged: audit_segments, one row per range); a file is
//     linked only if its size is the manifest's and it was not modified
//     after that manifest (Info.intact), and is not read again. Audit
//     segments to write are shared with a second read transaction when
//     its stamp proves it sees the same rows up to the snapshot's last
//     key (exportSegments).
//  6. Copy each blob of the snapshot, on every core once the tables are
//     written: hard-link it from the newest complete backup in B when
//     that holds the same blob intact (as in step 5), or else read it
//     from the live store, check its SHA-256 against its id, and compress
//     it when its first MiB, compressed as a sample, shows that pays (that
//     zstd frame starts the file, and the rest follows as a second frame).
//     Release gc.lock. (Encrypted: the previous backup's file is looked
//     up under the keyed names of both encodings first; otherwise the
//     sample decides the encoding, which with the id gives the keyed file
//     name. Table and blob files are encrypted as they are written;
//     tables are linked as in step 5, from the previous backup's link
//     index, which opens with a key derived from the master key and the
//     recipients, see newTableSource.)
//  7. Encrypted: seal the link index into the public manifest, write
//     manifest.age. Write manifest.json, fsync every
//     file and directory, and rename the temporary directory to
//     backup-YYYYMMDD_HHMM (UTC; -2, -3... if that name is taken; never
//     replacing anything). Fsync B.
//
// Every file is fsynced before the manifest is written and the manifest
// before the rename. The files of steps 5 and 6 are fsynced as they are
// finished, on goroutines of their own (fileSyncer), so that the
// goroutines that compress never wait for the disk; step 7 waits for
// them all before it writes the manifest. A crash before the rename leaves only a
// .tmp-backup-* directory, which [Folder.Backups] and [Restore] never take for a
// backup and the next [Create] removes; a crash after it leaves a complete
// backup. A backup never changes the data directory.
//
// # Restore
//
// [Restore] changes nothing until every check has passed. It calls one
// method of restorer (restore.go) for each step: readBackup (1),
// lockRestore (2), checkBackup (3 to 5), lockDataDir and checkSpace (6),
// then intoDataDir or, with a [Target], intoTarget (7 and 8).
//
//  1. Read the manifest: its checksum, format and schema version (a newer
//     one is refused, naming both versions). Unlock an encrypted backup:
//     manifest.age's hash, decryption with the keys given, its copy of
//     manifest.json, the full manifest ([format.Unlock]). This needs no lock (the
//     backup is outside the data directory, and a complete backup's
//     manifest never changes), so a wrong backup path is refused at once,
//     even while another restore runs.
//  2. Take the restore lock beside the data directory (<dir>.restore-lock),
//     finish an interrupted restore (see below) and the deletion of a
//     previous state that --discard-previous began (<dir>.deleting-*),
//     and refuse at once while a server holds the data directory (a
//     shared probe of bitnobi.lock, which creates nothing).
//  3. Find the master key (an encrypted backup's own, else --key-file,
//     BITNOBI_MASTER_KEY_FILE or the target's master.key) and check its
//     fingerprint against the manifest's.
//  4. Check that the backup holds exactly the files the manifest lists,
//     with their sizes, and no symbolic links or paths that leave it, and
//     the SHA-256 of the files step 7 does not read (an encrypted
//     backup's manifest.age). The table and blob files are not read
//     here: step 7 hashes each as it restores it, so that every file is
//     read once (but for the secrets table, which step 5 reads, and the
//     small audit_segments index, which step 7 reads before it copies
//     the blobs), and a restore that fails for whatever reason before
//     the switch hashes them all, so that a damaged file is named as
//     "backups verify" names it.
//  5. Check that the backup's secrets were sealed with that key. Steps 3
//     to 5 come before the data directory's lock, so that a refusal
//     leaves the target untouched, not even a lock file.
//  6. Take the data directory's lock (bitnobi.lock), refusing while a
//     server holds it; create the directory first if it is missing (a
//     restore that then fails removes it, or the lock file it created in
//     an existing directory). Check that the file system has room for the
//     new state.
//  7. Build the new state in <dir>.restore-staging (same file system):
//     the schema at the backup's version (migrations up to it), the rows
//     and, on other goroutines at the same time, the blobs (each checked
//     against its id; a failure of either stops both), every table and
//     blob file checked against its size and SHA-256 as it is read, then the
//     migrations of this binary; verify the audit chain (as its rows
//     load, and again on the loaded table unless that check passed and
//     no migration ran since; a sealed log by its index, the live tail
//     and each segment's file against its index row at its ends, the
//     first and last frames decoded ("audit verify" and "backups verify
//     --deep" decode every entry; the chain has no key, so the full check
//     at restore guarded only against a bug in the writer's seal, at a
//     cost that grew with the history): the rows of the backup's
//     audit_segments are read before the copy, so that each segment
//     file is checked while the copy holds its bytes,
//     and a loaded row identical to the one checked takes that result,
//     any other being checked from the restored blob store) and append a
//     restore entry; seal
//     the audit log's full segments into the staging blob store
//     ([store.DB.SealAudit]: all of a format 1-4 backup's history, little
//     or nothing of a format 5 or 6 one's); mark a copy (--as-copy); install
//     the key; fsync everything (the blobs too, which are put without
//     their own fsyncs, blob.Store.NoSync, but each has its write-back
//     started as it is put, so that the disk writes while the CPU copies
//     and checks the rest). The
//     SQLite database is loaded without fsyncs and with its rollback
//     journal in memory, then closed in WAL mode before the fsync: a
//     crash during the load leaves only the staging directory to remove.
//  8. Switch: write the journal <dir>.restore-journal, rename the data
//     directory to <dir>.before-restore-YYYYMMDD_HHMMSS (or remove it if
//     it held only lock files), rename the staging directory to the data
//     directory, remove the journal; fsync the parent after each step.
//
// With [RestoreOptions].Target (PostgreSQL: postgres.RestoreTarget) steps
// 1-6 are the same, the data directory's lock included; step 7 builds the
// database in what the target stages (a new schema, which no server reads,
// taken under the database's server lock; rows loaded with COPY through
// [RowLoader]) and the blobs straight into the data directory's blob store
// (content-addressed: new files go beside the existing ones, replacing
// nothing), installs the master key if the directory has none, and step 8
// is the target's Commit: one transaction that renames the current schema
// away and the new one into its place. A crash before it leaves the
// database as it was (and extra blobs, which the collector removes).
//
// A crash before step 8 leaves the data directory untouched and a staging
// directory that the next restore removes. An interruption (the context
// done) before step 8, or with a Target before it installs the master
// key, removes the staging directory (or schema) too, and Restore returns
// an [InterruptedError]: nothing changed but, with a Target, the extra
// blobs. From there on the data directory's switch does not stop. During step 8 the journal
// exists, and [RecoverInterruptedRestore], run at the start of serve,
// backup and restore, completes the switch from wherever it stopped: with
// the staging directory and the data directory both present it does the
// first rename (or, when the previous state is already in place and the
// data directory was made anew, empty, removes that); with only the
// staging directory, the second; with only the data directory, nothing
// but removing the journal. So the data
// directory holds the old state or the new one, never a mix, and is never
// missing once recovery has run.
//
// # Sealed audit log (formats 5 and 6)
//
// Sealed audit segments are blobs (audit_segments.blob_id refers to
// blobs), so Create copies, checks and links them as it does any blob,
// and exports only audit_segments (the index) and audit_log's live tail
// as rows: a full backup never re-encodes sealed entries, and a second
// backup hard-links their files from the first. Restore copies them as
// blobs and loads the index; it never inserts sealed entries. Format 6
// differs from format 5 only in that its segment files may be of
// version 3 (store/auditseg), which a format-5 reader cannot read; a
// segment keeps the version it was sealed with, so a format-6 backup of
// an upgraded installation holds version-2 segments too.
//
// # Managing a backup folder
//
// Reading never changes a backup. [Folder] is the handle on a backup folder: [Folder.Entries] lists it (stat only, and
// each manifest); [Reader] reads a backup's tables a row at a time,
// checking each table file against the manifest first and its row count
// and primary-key order last; [Inspect] and [Diff] build on it ([DiffLive]
// reads the live database in one read transaction instead), merge-joining
// rows by primary key so that memory does not grow with the tables.
// [Verify] with Deep restores into a temporary directory and checks the result.
//
// [Prune] and [Import] change the folder, under its lock (B/.lock), so
// they never run beside a backup or each other:
//
//   - Prune decides with package retention on the complete backups'
//     creation times, then for each backup to remove renames it to
//     .tmp-backup-prune-<name>-<random>, fsyncs the folder, removes its
//     verification record and deletes the directory. A crash leaves a
//     .tmp-backup-* directory, never a partial backup-*, and the next
//     backup or prune removes it. Deleting a backup unlinks its files;
//     a blob file hard-linked into another backup lives on there.
//   - Import extracts an archive ([Export]'s tar, manifest first; older
//     ones manifest last) into .tmp-backup-import-*, refusing while
//     extracting whatever no backup holds (package archive does links,
//     escapes and duplicates; the allow function paths of other shapes,
//     entries the leading manifest does not list or whose size differs,
//     declared sizes beyond the free space, and entries after a trailing
//     manifest), then verifies the result completely against the
//     extracted manifest, and renames it into place without replacing
//     anything. A crash leaves only the temporary directory.
package backup
