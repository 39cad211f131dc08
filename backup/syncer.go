package backup

import (
	"fmt"
	"os"
	"sync"
)

// syncers is how many goroutines of a backup fsync its files. Each
// waits on the disk, not on a core, and several fsyncs at once let the
// file system commit them together (ext4's journal commits every file
// waiting for it in one go).
const syncers = 4

// syncQueue bounds the files written and waiting for their fsync: when
// the disk falls behind, the goroutines that write them wait for it
// rather than holding ever more files open.
const syncQueue = 32

// fileSyncer fsyncs and closes, on goroutines of its own, the files a
// backup has written, so that the goroutines that compress them go on
// with the next file instead of waiting for the disk. Measured at M
// (761 blob files on ext4), the blob copiers spent 3.4 s of a 6 s backup
// blocked in fsync, leaving a core idle for most of its second half.
// Every file is synced before [fileSyncer.wait] returns, which the
// backup calls before it writes its manifest: the manifest is still
// written only once every file it lists is durable.
type fileSyncer struct {
	files chan syncFile
	wg    sync.WaitGroup

	mu   sync.Mutex
	err  error // the first fsync or close that failed
	done bool  // wait was called
}

// syncFile is a file to fsync and close, and its path in the backup, for
// the error.
type syncFile struct {
	f   *os.File
	rel string
}

// newFileSyncer starts a fileSyncer's goroutines. Its caller must call
// wait.
func newFileSyncer() *fileSyncer {
	s := &fileSyncer{files: make(chan syncFile, syncQueue)}
	for range syncers {
		s.wg.Add(1)
		go s.run()
	}
	return s
}

func (s *fileSyncer) run() {
	defer s.wg.Done()
	for sf := range s.files {
		err := sf.f.Sync()
		if cerr := sf.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("write %s: %w", sf.rel, err)
			}
			s.mu.Unlock()
		}
	}
}

// finish fsyncs and closes f, the backup file rel that the caller has
// written in full. With a syncer (s not nil), it hands f to s and returns
// at once: s then owns f, and wait reports an error; the caller must not
// use f after, not even to close it. Without one, it fsyncs and closes f
// itself. It must not be called after wait.
func (s *fileSyncer) finish(f *os.File, rel string) error {
	if s == nil {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	s.files <- syncFile{f: f, rel: rel}
	return nil
}

// wait waits until every file handed to finish is fsynced and closed,
// and returns the first error met. It ends the syncer's goroutines and
// may be called more than once; a nil syncer has nothing to wait for.
func (s *fileSyncer) wait() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if !s.done {
		s.done = true
		close(s.files)
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
