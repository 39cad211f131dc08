package main

import (
	"context"
	"errors"
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
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
