package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// tableSource is what a backup may reuse from the previous backup in its
// folder: the tables of its manifest, when that backup is of the same
// database at the same schema version, and plain like this one or
// encrypted to the same keys.
type tableSource struct {
	prev   *Info
	tables map[string]format.Table
	// files are the previous backup's entries of its table files, as its
	// full manifest has them.
	files map[string]format.File
}

// newTableSource returns the reusable tables of prev for a backup of m
// (encrypted with crypt, or plain when crypt is nil), or nil when there
// are none: prev is nil, of an older format or of another instance,
// engine or schema version; or one of the two is encrypted and the other
// not; or prev's link index does not open with crypt's key (another
// master key or other recipients or passphrase).
func newTableSource(prev *Info, m *format.Manifest, crypt *format.Cryptor, logger *slog.Logger) *tableSource {
	if prev == nil || prev.Manifest == nil || prev.Manifest.Encrypted() != m.Encrypted() {
		return nil
	}
	pm := prev.Manifest
	src := &tableSource{prev: prev, tables: map[string]format.Table{}, files: prev.files}
	tables := pm.Tables
	if m.Encrypted() {
		if pm.Links == "" || crypt == nil {
			return nil
		}
		idx, err := crypt.OpenLinks(pm.Links)
		if err != nil {
			// Another key is no news (the blobs say so already); damage is.
			if !errors.Is(err, format.ErrNoLinks) {
				logger.Warn("previous backup's link index is unreadable: its tables are not linked", "backup", prev.Name, "err", err)
			}
			return nil
		}
		// The entries must be the files manifest.json lists (it was
		// checked, paths and all), down to the bytes on disk.
		src.files = make(map[string]format.File, len(idx.Files))
		for _, f := range idx.Files {
			if pf, ok := prev.files[f.Path]; ok && pf.Size == f.Size && pf.SHA256 == f.SHA256 {
				src.files[f.Path] = f
			}
		}
		pm = &format.Manifest{Format: pm.Format, InstanceID: idx.InstanceID, Engine: idx.Engine, SchemaVersion: idx.SchemaVersion}
		tables = idx.Tables
	}
	if pm.Format < format.FormatSegments || pm.SchemaVersion != m.SchemaVersion ||
		pm.Engine != m.Engine || pm.InstanceID != m.InstanceID {
		return nil
	}
	for _, t := range tables {
		src.tables[t.Name] = t
	}
	return src
}

// table returns the previous backup's entry for t when its rows may be
// reused: same change stamp (not empty), same columns and key.
func (s *tableSource) table(t store.Table, stamp string) (format.Table, bool) {
	if s == nil || stamp == "" {
		return format.Table{}, false
	}
	pt, ok := s.tables[t.Name]
	if !ok || pt.ChangeStamp != stamp || !slices.Equal(pt.Columns, formatColumns(t.Columns)) || !slices.Equal(pt.PrimaryKey, t.PrimaryKey) {
		return format.Table{}, false
	}
	return pt, true
}

// shape returns the previous backup's entry for t when it has the same
// columns and key, whatever its change stamp.
func (s *tableSource) shape(t store.Table) (format.Table, bool) {
	if s == nil {
		return format.Table{}, false
	}
	pt, ok := s.tables[t.Name]
	if !ok || !slices.Equal(pt.Columns, formatColumns(t.Columns)) || !slices.Equal(pt.PrimaryKey, t.PrimaryKey) {
		return format.Table{}, false
	}
	return pt, true
}

// link hard-links the previous backup's file of segment ps to path rel of
// the new backup and returns its entry, or false (leaving nothing at rel)
// when it cannot: the file is missing or changed (see [Info.intact]).
func (s *tableSource) link(w *writer, ps format.Segment, rel string) (format.File, bool, error) {
	pf, ok := s.files[ps.File]
	if !ok {
		return format.File{}, false, nil
	}
	src := filepath.Join(s.prev.Path, filepath.FromSlash(pf.Path))
	if !s.prev.intact(src, pf) {
		return format.File{}, false, nil
	}
	if err := os.Link(src, filepath.Join(w.tmp, filepath.FromSlash(rel))); err != nil {
		return format.File{}, false, nil // another file system, or no hard links: write it
	}
	pf.Path = rel
	if w.linkedPaths == nil {
		w.linkedPaths = map[string]bool{}
	}
	w.linkedPaths[rel] = true
	return pf, true, nil
}

// backupTable writes table t's rows, read within tx, as the segments of a
// format 3 backup, hard-linking from src the ones that did not change. It
// returns the table's entry, its files, and how many of them were linked.
// onRow, if not nil, sees every row, so its table is always read; a
// table split by key is then written anew.
func (w *writer) backupTable(ctx context.Context, db *store.DB, tx *store.Tx, t store.Table, stamp string, src *tableSource, onRow func([]any) error) (format.Table, []format.File, int, error) {
	if !format.ValidTableName(t.Name) {
		return format.Table{}, nil, 0, fmt.Errorf("table name %q cannot be a file name", t.Name)
	}
	tb := &tableBackup{
		w: w, db: db, tx: tx, t: t, stamp: stamp, src: src, onRow: onRow,
		entry: format.Table{Name: t.Name, ChangeStamp: stamp, Columns: formatColumns(t.Columns), PrimaryKey: t.PrimaryKey},
	}
	tb.prev, tb.reuse = src.table(t, stamp)
	var err error
	if _, split := t.IntegerKey(); split {
		err = tb.split(ctx)
	} else {
		err = tb.whole(ctx)
	}
	if err != nil {
		return format.Table{}, nil, 0, err
	}
	return tb.entry, tb.files, tb.linked, nil
}

// tableBackup is the backup of one table, by [writer.backupTable].
type tableBackup struct {
	w     *writer
	db    *store.DB
	tx    *store.Tx
	t     store.Table
	stamp string
	src   *tableSource
	onRow func([]any) error
	prev  format.Table // the previous backup's entry, if reuse
	reuse bool         // the table's stamp is the previous backup's

	entry  format.Table
	files  []format.File
	linked int // files linked from the previous backup
}

// add appends segment s, in file f, to the table's entry.
func (tb *tableBackup) add(s format.Segment, f format.File, isLink bool) {
	tb.entry.Segments = append(tb.entry.Segments, s)
	tb.entry.Rows += s.Rows
	tb.entry.RawSize += s.RawSize
	tb.files = append(tb.files, f)
	if isLink {
		tb.linked++
	}
}

// whole backs up a table that is not split by key: one segment, linked
// when the stamp is unchanged, else written.
func (tb *tableBackup) whole(ctx context.Context) error {
	rel := format.SegmentFile(tb.t.Name, 0)
	if tb.reuse && len(tb.prev.Segments) == 1 && tb.prev.Segments[0].Keys == nil {
		f, ok, err := tb.src.link(tb.w, tb.prev.Segments[0], rel)
		if err != nil {
			return err
		}
		if ok && tb.onRow != nil { // the rows are the same: read them for onRow only
			if err := tb.db.ExportRows(ctx, tb.tx, tb.t, tb.onRow); err != nil {
				return err
			}
		}
		if ok {
			s := tb.prev.Segments[0]
			s.File = rel
			tb.add(s, f, true)
			return nil
		}
	}
	s, f, err := tb.w.writeSegment(ctx, tb.t, rel, nil, tb.onRow, func(fn func([]any) error) error {
		return tb.db.ExportRows(ctx, tb.tx, tb.t, fn)
	})
	if err != nil {
		return err
	}
	tb.add(s, f, false)
	return nil
}

// segmentSlot is a segment of a split table, in key order: linked, or
// (until exportSegments fills it) to be written.
type segmentSlot struct {
	seg    format.Segment
	file   format.File
	linked bool
}

// split backs up a table split by key: it walks the key ranges that hold
// rows, in order, linking the segments the previous backup holds
// unchanged, and exports the others (exportSegments).
//
// With the change stamp unchanged, any segment may be linked (see
// linkSegment). With it changed, rows may have been updated or deleted
// anywhere, and only a segment of one row is linked: its last line's
// hash, which linkSegment checks, is then its whole content. That is
// what audit_segments is, one row per key range, whose stamp every seal
// changes: without this, each backup after a seal wrote the whole table
// again, one small file per sealed segment (123 files, 1 MiB on disk at
// M), to add one row.
func (tb *tableBackup) split(ctx context.Context) error {
	var prevByFrom map[int64]format.Segment
	if pt, ok := tb.src.shape(tb.t); ok && tb.onRow == nil {
		prevByFrom = map[int64]format.Segment{}
		for _, s := range pt.Segments {
			if s.Keys != nil && (tb.reuse || s.Rows == 1) {
				prevByFrom[s.Keys[0]] = s
			}
		}
	}
	var slots []segmentSlot
	cursor := int64(math.MinInt64)
	if tb.reuse && prevByFrom != nil {
		var err error
		if slots, cursor, err = tb.linkFull(); err != nil {
			return err
		}
	}
	slots, jobs, err := tb.walk(ctx, slots, cursor, prevByFrom)
	if err != nil {
		return err
	}
	err = tb.w.exportSegments(ctx, tb.db, tb.tx, tb.t, tb.stamp, jobs, tb.onRow, func(j segmentJob, s format.Segment, f format.File) {
		slots[j.index] = segmentSlot{seg: s, file: f}
	})
	if err != nil {
		return err
	}
	for _, sl := range slots {
		tb.add(sl.seg, sl.file, sl.linked)
	}
	if tb.entry.Segments == nil {
		return tb.empty(ctx)
	}
	return nil
}

// linkFull links the previous backup's full segments without a query.
// With the stamp unchanged, rows were only appended since the previous
// backup, above its largest key: every segment of it but the last still
// holds exactly its rows. The last, which appends may have reached, is
// checked by walk. It returns the segments linked and the key walk goes
// on from.
func (tb *tableBackup) linkFull() ([]segmentSlot, int64, error) {
	var full []format.Segment
	cursor := int64(math.MinInt64)
	for _, ps := range tb.prev.Segments {
		if ps.Keys == nil || ps.Rows == 0 || ps.Keys[0] < cursor {
			full = nil // not in key order: check each in walk
			break
		}
		full = append(full, ps)
		cursor = ps.Keys[1] + 1
	}
	if len(full) > 0 {
		full = full[:len(full)-1]
	}
	var slots []segmentSlot
	cursor = math.MinInt64
	for _, ps := range full {
		if from, to := keyRange(ps.First); from != ps.Keys[0] || to != ps.Keys[1] {
			break // ranges of another size
		}
		rel := format.SegmentFile(tb.t.Name, len(slots))
		f, ok, err := tb.src.link(tb.w, ps, rel)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			break // walk writes it and the rest
		}
		ps.File = rel
		slots = append(slots, segmentSlot{seg: ps, file: f, linked: true})
		cursor = ps.Keys[1] + 1
	}
	return slots, cursor, nil
}

// walk goes through the key ranges that hold rows from cursor on,
// appending to slots a linked segment where the previous backup's
// (prevByFrom) is unchanged and an empty slot, with its export job,
// where not.
func (tb *tableBackup) walk(ctx context.Context, slots []segmentSlot, cursor int64, prevByFrom map[int64]format.Segment) ([]segmentSlot, []segmentJob, error) {
	var jobs []segmentJob
	var row []any
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		first, ok, err := edgeRow(ctx, tb.db, tb.tx, tb.t, store.KeyRange{From: cursor, To: math.MaxInt64, Limit: 1}, &row)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		from, to := keyRange(first)
		rel := format.SegmentFile(tb.t.Name, len(slots))
		linked := false
		if ps, ok := prevByFrom[from]; ok && ps.Keys[1] == to {
			f, ok, err := tb.w.linkSegment(ctx, tb.db, tb.tx, tb.t, tb.src, ps, first, rel)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				ps.File = rel
				slots = append(slots, segmentSlot{seg: ps, file: f, linked: true})
				linked = true
			}
		}
		if !linked {
			jobs = append(jobs, segmentJob{index: len(slots), rel: rel, keys: [2]int64{from, to}})
			slots = append(slots, segmentSlot{})
		}
		if to == math.MaxInt64 {
			break
		}
		cursor = to + 1
	}
	return slots, jobs, nil
}

// empty gives a split table with no rows one empty segment, so that every
// table has a file: the previous backup's, if it was empty too.
func (tb *tableBackup) empty(ctx context.Context) error {
	rel := format.SegmentFile(tb.t.Name, 0)
	if tb.reuse && len(tb.prev.Segments) == 1 && tb.prev.Segments[0].Rows == 0 {
		f, ok, err := tb.src.link(tb.w, tb.prev.Segments[0], rel)
		if err != nil {
			return err
		}
		if ok {
			ps := tb.prev.Segments[0]
			ps.File = rel
			tb.add(ps, f, true)
			return nil
		}
	}
	s, f, err := tb.w.writeSegment(ctx, tb.t, rel, nil, tb.onRow, func(func([]any) error) error { return nil })
	if err != nil {
		return err
	}
	tb.add(s, f, false)
	return nil
}

// segmentJob is a segment of a table split by key to export.
type segmentJob struct {
	index int      // in the table's segments
	rel   string   // its file
	keys  [2]int64 // its key range
}

// testHookBeforeHelpers, if set, runs after tx's snapshot is taken and
// before helper transactions start theirs.
var testHookBeforeHelpers func()

// errStampMoved stops a helper whose snapshot is not the backup's.
var errStampMoved = errors.New("the table changed since the backup's snapshot")

// exportSegments writes the segments jobs of table t (split by key),
// calling done with each, from the backup's snapshot tx.
//
// Exporting is most of a full backup's time, and one connection reads on
// one core, so other read transactions export segments beside tx when
// they provably see the same rows. Their snapshots are later than tx's.
// For each the table's change stamp must still be stamp: no row was
// updated or deleted since tx's snapshot, and every insert was an append
// (migration 0002), above tx's largest key; each reads only keys up to
// that. Then every range holds the same rows in both snapshots.
// Otherwise, or when onRow must see rows in order, tx exports them all.
func (w *writer) exportSegments(ctx context.Context, db *store.DB, tx *store.Tx, t store.Table, stamp string, jobs []segmentJob, onRow func([]any) error, done func(segmentJob, format.Segment, format.File)) error {
	export := func(q *store.Tx, j segmentJob, maxKey int64) error {
		s, f, err := w.writeSegment(ctx, t, j.rel, &j.keys, onRow, func(fn func([]any) error) error {
			return db.ExportRange(ctx, q, t, store.KeyRange{From: j.keys[0], To: min(j.keys[1], maxKey)}, fn)
		})
		if err == nil {
			done(j, s, f)
		}
		return err
	}
	helpers := min(runtime.GOMAXPROCS(0), len(jobs)) - 1
	maxKey := int64(math.MaxInt64)
	if helpers > 0 && onRow == nil && stamp != "" {
		var row []any
		last, ok, err := edgeRow(ctx, db, tx, t, store.KeyRange{From: math.MinInt64, To: math.MaxInt64, Desc: true, Limit: 1}, &row)
		if err != nil {
			return err
		}
		if !ok {
			helpers = 0
		}
		maxKey = last
	} else {
		helpers = 0
	}
	if helpers == 0 {
		for _, j := range jobs {
			if err := export(tx, j, maxKey); err != nil {
				return err
			}
		}
		return nil
	}

	if testHookBeforeHelpers != nil {
		testHookBeforeHelpers()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// tx takes jobs from the front, helpers from the back: the last
	// range, where rows are appended, goes to a helper when there is one,
	// which is the case the checks above exist for.
	var mu sync.Mutex
	next := func(front bool) (segmentJob, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(jobs) == 0 {
			return segmentJob{}, false
		}
		if front {
			j := jobs[0]
			jobs = jobs[1:]
			return j, true
		}
		j := jobs[len(jobs)-1]
		jobs = jobs[:len(jobs)-1]
		return j, true
	}
	work := func(q *store.Tx, front bool) error {
		for {
			j, ok := next(front)
			if !ok {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := export(q, j, maxKey); err != nil {
				cancel()
				return err
			}
		}
	}
	errs := make(chan error, helpers)
	for range helpers {
		go func() {
			errs <- db.ReadTx(ctx, func(q *store.Tx) error {
				stamps, err := store.ChangeStamps(ctx, q, db.Dialect)
				if err != nil {
					return err
				}
				if stamps[t.Name] != stamp {
					return errStampMoved // tx does this helper's share
				}
				return work(q, false)
			})
		}()
	}
	err := work(tx, true)
	for range helpers {
		if herr := <-errs; herr != nil && !errors.Is(herr, errStampMoved) && err == nil {
			err = herr
		}
	}
	return err
}

// segmentKeys is [format.SegmentKeys], which tests lower to split small tables.
var segmentKeys int64 = format.SegmentKeys

// keyRange returns the range of segmentKeys keys that holds key.
func keyRange(key int64) (from, to int64) {
	k := key / segmentKeys
	if key < 0 && key%segmentKeys != 0 {
		k--
	}
	from = k * segmentKeys
	return from, from + (segmentKeys - 1)
}

// linkSegment links the previous backup's segment ps when the live table
// still holds exactly its rows. The change stamp being the same already
// says no row was updated or deleted; what remains is rows appended into
// its key range. So: ps has no gap between its first and last key (an
// insert would have to take a key outside them), and the live range's
// first key (first, passed in), its last key and its last row's line are
// ps's. With the stamp changed, split passes only a segment of one row,
// which the same checks prove whole: its one key is the range's first
// and last, so the range holds that one row, and its line is ps's.
func (w *writer) linkSegment(ctx context.Context, db *store.DB, tx *store.Tx, t store.Table, src *tableSource, ps format.Segment, first int64, rel string) (format.File, bool, error) {
	if ps.Keys == nil || ps.Rows == 0 || ps.Last-ps.First != ps.Rows-1 || first != ps.First {
		return format.File{}, false, nil
	}
	var row []any
	last, ok, err := edgeRow(ctx, db, tx, t, store.KeyRange{From: ps.Keys[0], To: ps.Keys[1], Desc: true, Limit: 1}, &row)
	if err != nil || !ok || last != ps.Last {
		return format.File{}, false, err
	}
	line, err := format.AppendRow(nil, formatColumns(t.Columns), row)
	if err != nil {
		return format.File{}, false, err
	}
	if sum := sha256.Sum256(line); hex.EncodeToString(sum[:]) != ps.LastRowSHA256 {
		return format.File{}, false, nil
	}
	return src.link(w, ps, rel)
}

// edgeRow reads the first row of r (which has Limit 1) into *row and
// returns its key, or false if r holds no row.
func edgeRow(ctx context.Context, db *store.DB, tx *store.Tx, t store.Table, r store.KeyRange, row *[]any) (int64, bool, error) {
	key, _ := t.IntegerKey()
	ki := slices.IndexFunc(t.Columns, func(c store.Column) bool { return c.Name == key })
	var k int64
	found := false
	err := db.ExportRange(ctx, tx, t, r, func(r []any) error {
		*row = append((*row)[:0], r...)
		k, found = r[ki].(int64), true
		return nil
	})
	return k, found, err
}

// writeSegment writes the rows that export passes to its callback to the
// new file rel, and returns its segment and file entries. keys, for a
// table split by key, is the segment's key range.
func (w *writer) writeSegment(ctx context.Context, t store.Table, rel string, keys *[2]int64, onRow func([]any) error, export func(fn func([]any) error) error) (format.Segment, format.File, error) {
	cols := formatColumns(t.Columns)
	f, err := os.OpenFile(filepath.Join(w.tmp, filepath.FromSlash(rel)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, filePerm)
	if err != nil {
		return format.Segment{}, format.File{}, err
	}
	handed := false // f is the syncer's
	defer func() {
		if !handed {
			f.Close()
		}
	}()
	hw := format.NewHashingWriter(f)
	ew, err := w.crypt.Encrypt(hw)
	if err != nil {
		return format.Segment{}, format.File{}, err
	}
	zw := format.NewZstdWriter(ew)
	defer zw.Close()
	seg := format.Segment{File: rel, Keys: keys}
	ki := -1
	if keys != nil {
		key, _ := t.IntegerKey()
		ki = slices.IndexFunc(t.Columns, func(c store.Column) bool { return c.Name == key })
	}
	var buf []byte
	lastStart := 0
	var lastLine []byte
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if keys != nil { // keep the last line: its hash goes in the manifest
			lastLine = append(lastLine[:0], buf[lastStart:]...)
		}
		_, err := zw.Write(buf)
		seg.RawSize += int64(len(buf))
		w.tick("tables", int64(len(buf)), Progress{})
		buf, lastStart = buf[:0], 0
		return err
	}
	err = export(func(row []any) error {
		if onRow != nil {
			if err := onRow(row); err != nil {
				return err
			}
		}
		lastStart = len(buf)
		var err error
		if buf, err = format.AppendRow(buf, cols, row); err != nil {
			return fmt.Errorf("row %d: %w", seg.Rows+1, err)
		}
		if ki >= 0 {
			k, _ := row[ki].(int64)
			if seg.Rows == 0 {
				seg.First = k
			}
			seg.Last = k
		}
		seg.Rows++
		if len(buf) >= 256<<10 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = ew.Close()
	}
	if err == nil {
		handed = true
		err = w.syncer.finish(f, rel)
	}
	if err != nil {
		return format.Segment{}, format.File{}, err
	}
	if keys != nil && seg.Rows > 0 {
		sum := sha256.Sum256(lastLine)
		seg.LastRowSHA256 = hex.EncodeToString(sum[:])
	}
	return seg, format.File{Path: rel, Size: hw.N, SHA256: hw.Sum(), Encoding: format.EncodingZstd, RawSize: seg.RawSize}, nil
}
