//go:build unix

package backup

import (
	"io/fs"
	"syscall"
)

// fileLinks returns the identity of fi's file (device and inode) and its
// number of hard links; ok is false where the system does not say.
func fileLinks(fi fs.FileInfo) (id fileID, links uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, 0, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, uint64(st.Nlink), true
}
