package backup

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/store"
)

// maxBlobWorkers bounds the goroutines that copy blobs, whatever
// GOMAXPROCS is. Each adds 12-18 MiB to the backup's peak RSS (a zstd
// encoder, two 1 MiB buffers, the garbage of compressed samples), and
// the budget is 256 MiB at every size: measured on the S state, peak RSS
// is 79 MiB with 2 goroutines, 108 MiB with 4 and 151 MiB with 8.
const maxBlobWorkers = 4

// blobWorkers returns how many goroutines copy blobs: one per usable
// core, at most maxBlobWorkers.
func blobWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), maxBlobWorkers)) }

// blobCopier copies the blobs of a backup on several goroutines, each
// taking the largest blob not yet taken: a large blob taken last would
// leave the other goroutines idle while one core compresses it. Entries
// land at their blob's index, so the result does not depend on which
// goroutine finished first. The first error stops the other goroutines.
type blobCopier struct {
	w      *writer
	prev   *Info
	refs   []blobRef
	order  []int           // indexes of refs, largest blob first
	ctx    context.Context // cancelled by the first error, or by stop
	cancel context.CancelFunc

	// files[i] is the entry of refs[i] and linked[i] tells whether it was
	// hard-linked from prev. Each is written by the one worker that took
	// i, and read after wg.Wait.
	files  []format.File
	linked []bool

	next    atomic.Int64 // index in order of the next blob to take
	done    atomic.Int64 // blobs copied
	started int          // workers started, by the calling goroutine only
	wg      sync.WaitGroup

	mu  sync.Mutex
	err error // the first worker's error
}

// newBlobCopier returns a copier of refs into w's backup, linking from
// prev (which may be nil) where it can. Nothing runs before start or
// wait.
func newBlobCopier(ctx context.Context, w *writer, prev *Info, refs []blobRef) *blobCopier {
	order := make([]int, len(refs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(refs[j].size, refs[i].size) })
	ctx, cancel := context.WithCancel(ctx)
	return &blobCopier{
		w: w, prev: prev, refs: refs, order: order, ctx: ctx, cancel: cancel,
		files: make([]format.File, len(refs)), linked: make([]bool, len(refs)),
	}
}

// startBlobs reads the blobs table in tx, the snapshot the tables are
// written from, and starts copying those blobs on all cores but one, which
// goes on writing the tables. The caller waits for the copier, or stops
// it.
func (w *writer) startBlobs(ctx context.Context, tx *store.Tx, prev *Info) (*blobCopier, error) {
	rows, err := tx.Query(ctx, `SELECT id, size FROM blobs`)
	if err != nil {
		return nil, fmt.Errorf("read the blobs table: %w", err)
	}
	defer rows.Close()
	var refs []blobRef
	for rows.Next() {
		var r blobRef
		if err := rows.Scan(&r.id, &r.size); err != nil {
			return nil, fmt.Errorf("read the blobs table: %w", err)
		}
		if !blob.ValidID(r.id) {
			return nil, fmt.Errorf("blobs row %q: not a blob id", r.id)
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the blobs table: %w", err)
	}
	c := newBlobCopier(ctx, w, prev, refs)
	c.start(blobWorkers() - 1)
	return c, nil
}

// sameBlobs returns an error unless copying and written list the same
// blobs, in any order: the blobs the copier took from the snapshot, and
// the rows of the blobs table's file. They are read in one transaction,
// so only a bug makes them differ, but a backup whose blob files did not
// match its blobs table would not restore.
func sameBlobs(copying, written []blobRef) error {
	byID := func(a, b blobRef) int { return strings.Compare(a.id, b.id) }
	a, b := slices.Clone(copying), slices.Clone(written)
	slices.SortFunc(a, byID)
	slices.SortFunc(b, byID)
	if !slices.Equal(a, b) {
		return fmt.Errorf("the blobs being copied (%d) are not the %d rows of the blobs table written", len(a), len(b))
	}
	return nil
}

// start starts workers until n run in all, or one per blob.
func (c *blobCopier) start(n int) {
	for ; c.started < min(n, len(c.refs)); c.started++ {
		c.wg.Add(1)
		go c.work()
	}
}

// work copies blobs until none is left, the context ends or a copy
// fails.
func (c *blobCopier) work() {
	defer c.wg.Done()
	for c.ctx.Err() == nil {
		k := int(c.next.Add(1) - 1)
		if k >= len(c.order) {
			return
		}
		i := c.order[k]
		f, linked, err := c.w.copyBlob(c.ctx, c.refs[i], c.prev)
		if err != nil {
			c.fail(err)
			return
		}
		c.files[i], c.linked[i] = f, linked
		c.done.Add(1)
	}
}

// fail records err unless an earlier error was, and stops the other
// workers. Their own errors, once cancelled, are not the cause.
func (c *blobCopier) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cancel()
}

// wait starts the rest of the workers and waits for all to end, calling
// the writer's progress function from the calling goroutine at the start,
// every 100ms and at the end. It returns the first worker's error, or the
// context's if it ended first; with no error every entry of files is set.
func (c *blobCopier) wait(total int64) error {
	c.start(blobWorkers())
	finished := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(finished)
	}()
	var tick <-chan time.Time
	if c.w.progress != nil {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		tick = t.C
		c.report(total)
	}
copying:
	for {
		select {
		case <-tick:
			if c.ctx.Err() == nil { // not once cancelled or failed
				c.report(total)
			}
		case <-finished:
			break copying
		}
	}
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err == nil {
		// The copier's own context is cancelled only by fail and stop, so
		// an error here is the caller's.
		err = c.ctx.Err()
	}
	if err == nil && c.w.progress != nil {
		c.report(total)
	}
	return err
}

// report reports the blobs and bytes done so far. Both counts only grow,
// so successive reports never go back.
func (c *blobCopier) report(total int64) {
	c.w.report(Progress{
		Phase: "blobs", Items: c.done.Load(), ItemsTotal: int64(len(c.refs)),
		Bytes: c.w.blobBytes.Load(), BytesTotal: total,
	})
}

// stop stops the workers and waits for them: on the way out of a failed
// backup, so that none writes into its directory after it is removed. It
// may be called more than once.
func (c *blobCopier) stop() {
	c.cancel()
	c.wg.Wait()
}

// ctxReader reads from r until ctx ends, so that copying a large blob
// stops promptly when the backup is cancelled or another blob failed.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// bigBlobSize is the size from which a blob is compressed on several
// goroutines at once, when no other blob is: zstd then splits it into
// jobs of 4 MiB (four windows) compressed side by side.
const bigBlobSize = 16 << 20

// bigSlot is held by the one large blob at a time compressed on several
// goroutines: the encoder's jobs in flight hold 20-50 MiB (measured as
// peak RSS), which one encoder at a time keeps bounded. Another large
// blob meanwhile is compressed on its own goroutine.
var bigSlot = make(chan struct{}, 1)

var bigEncoderPool = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(format.ZstdLevel),
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)), zstd.WithConcurrentBlocks(true),
		zstd.WithWindowSize(1<<20))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
}}

// newBlobZstdWriter returns a writer that compresses a blob of size
// bytes into w: on several goroutines for a large blob when the slot is
// free and there are cores for it, else on the calling one. Close flushes
// the frame and releases the encoder; it does not close w.
func newBlobZstdWriter(w io.Writer, size int64) io.WriteCloser {
	if size >= bigBlobSize && runtime.GOMAXPROCS(0) > 1 {
		select {
		case bigSlot <- struct{}{}:
			e := bigEncoderPool.Get().(*zstd.Encoder)
			e.Reset(w)
			return &bigZstdWriter{e: e}
		default:
		}
	}
	return format.NewZstdWriter(w)
}

// bigZstdWriter is a [format.ZstdWriter] whose encoder compresses on several
// goroutines and holds bigSlot.
type bigZstdWriter struct{ e *zstd.Encoder }

func (z *bigZstdWriter) Write(p []byte) (int, error) { return z.e.Write(p) }

func (z *bigZstdWriter) Close() error {
	if z.e == nil {
		return nil
	}
	err := z.e.Close()
	z.e.Reset(nil) // ends its goroutines
	bigEncoderPool.Put(z.e)
	z.e = nil
	<-bigSlot
	return err
}

// frameWriter compresses what is written to it into w as one zstd frame,
// begun by the first Write that has bytes: when nothing is written,
// nothing is, not even an empty frame. size is how many bytes are to
// come, which picks the encoder (see newBlobZstdWriter). Close ends the
// frame, if one was begun, and releases the encoder; it may be called
// more than once, and does not close w.
type frameWriter struct {
	w    io.Writer
	size int64
	zw   io.WriteCloser
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if f.zw == nil {
		if len(p) == 0 {
			return 0, nil
		}
		f.zw = newBlobZstdWriter(f.w, f.size)
	}
	return f.zw.Write(p)
}

func (f *frameWriter) Close() error {
	if f.zw == nil {
		return nil
	}
	return f.zw.Close()
}
