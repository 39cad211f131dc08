package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bitnobi/bitnobi/store"
)

// sealEvery is how often the server looks for a full segment of the
// audit log to seal. A look with nothing to seal costs two index probes.
var sealEvery = time.Minute

// sealLoop seals the audit log's full segments (store.DB.SealAudit) at
// once, which is how an installation of an earlier version gets its
// history sealed, and then every interval, until ctx ends. A failure is
// logged and tried again at the next tick: the entries stay in the
// database meanwhile, readable as before.
func sealLoop(ctx context.Context, db *store.DB, every time.Duration, logger *slog.Logger) {
	logger = logger.With("subsystem", "audit-seal")
	first := true
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if first {
			logger.Info("sealing the audit log's full segments")
		}
		res, err := db.SealAudit(ctx)
		switch {
		case errors.Is(err, context.Canceled) || ctx.Err() != nil:
			return
		case err != nil:
			logger.Error("seal audit log", "err", err, "segments", res.Segments)
		case first || res.Segments > 0:
			logger.Info("sealed audit log", "segments", res.Segments, "entries", res.Entries, "bytes", res.Bytes,
				"sealed_up_to", res.SealedUpTo, "took", res.Duration.Round(time.Millisecond))
			if first && res.Segments > 0 {
				freeSpaceNotice(ctx, db, logger)
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// vacuumNoticeMin is the free space in a SQLite database file above
// which, when it is also over a quarter of the file, the server tells at
// start-up how to give it back.
var vacuumNoticeMin int64 = 64 << 20

// freeSpaceNotice logs, on SQLite, how to give back the free space of a
// database file that holds much: the space of the rows a seal removed, in
// a database created without incremental auto-vacuum (by an earlier
// version), which SQLite keeps for reuse but never returns on its own.
func freeSpaceNotice(ctx context.Context, db *store.DB, logger *slog.Logger) {
	if db.Dialect.Name() != "sqlite" {
		return
	}
	size, free, err := sqliteSpace(ctx, db)
	if err != nil {
		logger.Warn("seal audit log: database size", "err", err)
		return
	}
	if free > vacuumNoticeMin && free > size/4 {
		logger.Warn(fmt.Sprintf("the database file holds %s of free space (of %s), left by sealing the audit log: "+
			"to give it back to the file system, stop the server and run: bitnobi audit seal --vacuum --data-dir DATA_DIR (needs %s of free disk space meanwhile)",
			humanBytes(free), humanBytes(size), humanBytes(size-free)),
			"free_bytes", free, "file_bytes", size)
	}
}
