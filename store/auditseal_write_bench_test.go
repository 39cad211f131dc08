package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// sealWriteEvery is how often BenchmarkAuditedWriteDuringSeal starts an
// audited write: open loop, each in its own goroutine, as requests from
// many clients arrive whether or not the last one is done, 50 a second:
// the rate of the API load test, all of them writes here. The
// share of writes that land behind a long lock hold does not depend on
// the rate; the count of samples does.
const sealWriteEvery = 20 * time.Millisecond

// BenchmarkAuditedWriteDuringSeal measures the latency of audited writes
// (a write transaction that appends one audit entry, as every audited API
// write does) while SealAudit seals BITNOBI_BENCH_SEAL_SEGMENTS (default
// 3) full segments of DefaultAuditSegmentSize entries of about 500 bytes
// each (what an entry takes in an M database) and gives back their space,
// against the same writes on the same database just before, with no seal
// running. It reports, per engine, the p50 and p99 of each and their
// ratios (seal ÷ idle), and the longest time one write step of the seal
// held the write connection, which every audited write queues behind: a
// segment's transaction (seal-hold-max-ms) and a step of giving back
// space (reclaim-hold-max-ms).
func BenchmarkAuditedWriteDuringSeal(b *testing.B) {
	segs := 3
	if v := os.Getenv("BITNOBI_BENCH_SEAL_SEGMENTS"); v != "" {
		var err error
		if segs, err = strconv.Atoi(v); err != nil || segs < 1 {
			b.Fatalf("BITNOBI_BENCH_SEAL_SEGMENTS=%q: want a positive number", v)
		}
	}
	for _, engine := range dbtest.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			var idle, sealing []time.Duration
			holds := map[string][]time.Duration{}
			var mu sync.Mutex
			for b.Loop() {
				b.StopTimer()
				db := fillForSeal(b, engine, segs)
				store.SetSealLockHeld(db, func(step string, held time.Duration) {
					mu.Lock()
					holds[step] = append(holds[step], held)
					mu.Unlock()
				})
				b.StartTimer()
				// The idle window lasts about as long as the seal's: a
				// second a segment.
				stop := make(chan struct{})
				time.AfterFunc(time.Duration(segs)*time.Second, func() { close(stop) })
				idle = append(idle, auditedWrites(b, db, stop)...)

				stop = make(chan struct{})
				var res store.SealResult
				var sealErr error
				go func() {
					defer close(stop)
					res, sealErr = db.SealAudit(context.Background())
				}()
				sealing = append(sealing, auditedWrites(b, db, stop)...)
				if sealErr != nil {
					b.Fatal(sealErr)
				}
				if res.Segments != segs {
					b.Fatalf("sealed %d segments, want %d", res.Segments, segs)
				}
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
			ip50, ip99 := percentiles(idle)
			sp50, sp99 := percentiles(sealing)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(ip50), "idle-p50-ms")
			b.ReportMetric(ms(ip99), "idle-p99-ms")
			b.ReportMetric(ms(sp50), "seal-p50-ms")
			b.ReportMetric(ms(sp99), "seal-p99-ms")
			b.ReportMetric(float64(sp50)/float64(ip50), "p50-ratio")
			b.ReportMetric(float64(sp99)/float64(ip99), "p99-ratio")
			b.ReportMetric(ms(slices.Max(append(holds["seal"], 0))), "seal-hold-max-ms")
			b.ReportMetric(ms(slices.Max(append(holds["reclaim"], 0))), "reclaim-hold-max-ms")
			b.ReportMetric(float64(len(sealing)), "seal-writes")
		})
	}
}

// fillForSeal returns a fresh database whose audit log holds segs full
// segments and one entry more, so that SealAudit seals segs segments.
func fillForSeal(b testing.TB, engine string, segs int) *store.DB {
	b.Helper()
	ctx := context.Background()
	db := dbtest.Open(b, engine)
	db.Blobs = blob.NewStore(filepath.Join(b.TempDir(), "blobs"))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pad := strings.Repeat("d", 250)
	n := segs*store.DefaultAuditSegmentSize + 1 // the first segment holds seq 1 to N-1
	const batch = 4096
	for i := 0; i < n; i += batch {
		es := make([]*bitnobi.AuditEntry, min(batch, n-i))
		for j := range es {
			k := strconv.Itoa((i + j) % 200)
			es[j] = &bitnobi.AuditEntry{At: start.Add(time.Duration(i+j) * time.Second), ActorID: "u" + k, ActorName: "user" + k,
				Action: bitnobi.ActionSignIn, TargetType: "user", TargetID: "u" + k, Detail: `{"pad":"` + pad + `"}`, RemoteAddr: "192.0.2.7"}
		}
		if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// auditedWrites starts an audited write every sealWriteEvery until stop
// is closed, and returns how long each took, from its start to its
// commit.
func auditedWrites(b *testing.B, db *store.DB, stop <-chan struct{}) []time.Duration {
	b.Helper()
	ctx := bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{UserID: "u1", Username: "user1", RemoteAddr: "192.0.2.7"})
	var (
		mu    sync.Mutex
		took  []time.Duration
		first error
		wg    sync.WaitGroup
	)
	t := time.NewTicker(sealWriteEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			wg.Wait()
			if first != nil {
				b.Fatal(first)
			}
			if len(took) == 0 {
				b.Fatal("no audited write completed")
			}
			return took
		case <-t.C:
		}
		wg.Go(func() {
			start := time.Now()
			err := db.WriteTx(ctx, func(tx *store.Tx) error {
				return tx.Audit(ctx, bitnobi.ActionPolicyUpdate, "policy", "p"+strconv.Itoa(i), map[string]string{"name": "policy " + strconv.Itoa(i)})
			})
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = fmt.Errorf("audited write %d: %w", i, err)
			}
			took = append(took, d)
		})
	}
}

// percentiles returns the 50th and the 99th percentile of ds (nearest
// rank), sorting it.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.5) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return at(0.50), at(0.99)
}
