//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package backup

import "syscall"

// freeSpace returns the bytes available to this user on the file system
// holding dir; ok is false where that cannot be known.
func freeSpace(dir string) (avail int64, ok bool, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return int64(st.Bavail) * int64(st.Bsize), true, nil
}
