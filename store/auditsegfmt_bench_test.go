package store_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// The benchmarks of the segment file format run on the sealed log of
// [sealedBenchDB] (BITNOBI_BENCH_AUDIT_ENTRIES entries of the dev seed's
// generator; 500,000 make about 30 segments of the default size). They
// use only what every version of the format offers, so that two trees
// compare on the same state.

// BenchmarkSegmentBytesPerEntry reports the size of the sealed history on
// disk per entry.
func BenchmarkSegmentBytesPerEntry(b *testing.B) {
	db := sealedBenchDB(b)
	segs, err := store.AuditSegments(context.Background(), db.Read)
	if err != nil {
		b.Fatal(err)
	}
	var size, n int64
	for b.Loop() {
		size, n = 0, 0
		for _, s := range segs {
			size += s.Size
			n += s.Entries
		}
	}
	b.ReportMetric(float64(size)/float64(n), "bytes/entry")
	b.ReportMetric(float64(len(segs)), "segments")
}

// BenchmarkSegmentEncode encodes the entries of one sealed segment after
// another, as a seal does: the time per op is a segment's.
func BenchmarkSegmentEncode(b *testing.B) {
	db := sealedBenchDB(b)
	segs, err := store.AuditSegments(context.Background(), db.Read)
	if err != nil {
		b.Fatal(err)
	}
	entries := make([][]bitnobi.AuditEntry, len(segs))
	for i := range segs {
		data, err := os.ReadFile(db.Blobs.Path(segs[i].BlobID))
		if err != nil {
			b.Fatal(err)
		}
		if entries[i], err = auditseg.Decode(data, segs[i].Entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := auditseg.Encode(entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheckAuditSegment checks one sealed segment after another, as
// a restore does (one per core): the time per op is a segment's.
func BenchmarkCheckAuditSegment(b *testing.B) {
	db := sealedBenchDB(b)
	ctx := context.Background()
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := store.CheckAuditSegment(ctx, &segs[i%len(segs)], db.Blobs); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*segs[0].Entries), "ns/entry")
}

// BenchmarkAuditPageCold reads a page of 50 entries at a random place of
// the sealed history, as an admin paging through the log does, and
// reports the 50th and 99th percentile. Server pages on one store.DB, as
// a server does: its cache of decoded segments (or frames) holds a few of
// them, so most pages miss it. NewDB opens a new store.DB for each page,
// whose caches are all empty (the segments' summaries too).
func BenchmarkAuditPageCold(b *testing.B) {
	db := sealedBenchDB(b)
	ctx := context.Background()
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil {
		b.Fatal(err)
	}
	sealed := segs[len(segs)-1].LastSeq
	for _, mode := range []string{"Server", "NewDB"} {
		b.Run(mode, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			var took []time.Duration
			s := &store.AuditService{DB: sameDB(db)}
			b.ReportAllocs()
			for b.Loop() {
				if mode == "NewDB" {
					s.DB = sameDB(db)
				}
				after := r.Int64N(sealed - 50)
				start := time.Now()
				es, err := s.FindAuditEntries(adminCtx, bitnobi.AuditFilter{AfterSeq: after, Limit: 50})
				took = append(took, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if len(es) != 50 || es[0].Seq != after+1 {
					b.Fatalf("page after %d: %d entries", after, len(es))
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkCheckAuditSegmentEnds compares, on one sealed segment's bytes
// held in memory, the full check of `audit verify` ("full":
// store.CheckAuditSegmentData) with a restore's check of the file's ends
// ("ends": store.CheckAuditSegmentEndsAt, bytes already hashed as they
// were copied; "ends-hashed": store.CheckAuditSegmentEnds, which hashes
// them too). The time per op is a segment's.
func BenchmarkCheckAuditSegmentEnds(b *testing.B) {
	db := sealedBenchDB(b)
	ctx := context.Background()
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, len(segs))
	for i := range segs {
		if data[i], err = os.ReadFile(db.Blobs.Path(segs[i].BlobID)); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		check func(seg *store.AuditSegment, data []byte) error
	}{
		{"full", store.CheckAuditSegmentData},
		{"ends", func(seg *store.AuditSegment, data []byte) error {
			return store.CheckAuditSegmentEndsAt(seg, bytes.NewReader(data), int64(len(data)))
		}},
		{"ends-hashed", store.CheckAuditSegmentEnds},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % len(segs)
				if err := c.check(&segs[k], data[k]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
