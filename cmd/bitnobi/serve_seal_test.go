package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/store"
)

// TestSealLoop checks the server's sealer: it seals at once, logs what it
// did and how long it took, seals again when a segment fills, and stops
// when its context ends.
func TestSealLoop(t *testing.T) {
	d := backuptest.NewDataDir(t, t.TempDir())
	ctx := context.Background()
	appendN := func(n int) {
		t.Helper()
		es := make([]*bitnobi.AuditEntry, n)
		for i := range es {
			es[i] = &bitnobi.AuditEntry{At: time.Now(), ActorName: "test", Action: bitnobi.ActionSignIn}
		}
		if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
			t.Fatal(err)
		}
	}
	d.DB.AuditSegmentSize = 100
	appendN(250) // segments 1-99 and 100-199 can be sealed
	var logs syncBuffer
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sealLoop(loopCtx, d.DB, 20*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	waitSealed := func(upTo int64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			segs, err := store.AuditSegments(ctx, d.DB.Read)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) > 0 && segs[len(segs)-1].LastSeq == upTo {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not sealed up to %d: %v\nlogs:\n%s", upTo, segs, logs.String())
			}
		}
	}
	waitSealed(199)
	appendN(100) // and 200-299
	waitSealed(299)
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sealer did not stop with its context")
	}
	out := logs.String()
	for _, want := range []string{"sealing the audit log's full segments", "msg=\"sealed audit log\" subsystem=audit-seal segments=2 entries=199", "took="} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if n, _, err := d.DB.VerifyAudit(ctx, d.DB.Read); err != nil || n != 350 {
		t.Fatalf("VerifyAudit()=%d, %v, want 350", n, err)
	}
}
