package backup

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the file at path to
// disk now, without waiting for it (sync_file_range with
// SYNC_FILE_RANGE_WRITE). A restore puts its blobs without fsyncs and
// fsyncs the whole staging directory once at the end (syncTree); written
// back meanwhile, while the restore decodes, hashes and checks the next
// files on the CPU, the final fsync has little left to wait for. It is a
// hint: a failure is ignored, and durability still comes from syncTree.
func startWriteback(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	f.Close()
}
