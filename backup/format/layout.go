package format

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The names of backups and of the files in them: docs/backup-format.md,
// "Layout".

// Prefix starts the directory name of every backup in a folder.
const Prefix = "backup-"

// TempPrefix starts the name of a backup being written, imported or
// pruned: never taken for a backup.
const TempPrefix = ".tmp-" + Prefix

// Name returns the backup's directory name for a backup created at t
// (UTC, to the minute): "backup-YYYYMMDD_HHMM". A second backup in the
// same minute gets "-2", "-3"... appended.
func Name(t time.Time) string { return Prefix + t.UTC().Format("20060102_1504") }

// IsTemp reports whether name is the directory of a backup being written
// or interrupted (see [TempPrefix]).
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// NameLess orders backup names by time, then by their -N suffix as a
// number, so backup-..._1200-10 comes after backup-..._1200-9.
func NameLess(a, b string) bool {
	ab, an := SplitName(a)
	bb, bn := SplitName(b)
	if ab != bb {
		return ab < bb
	}
	return an < bn
}

// SplitName splits a backup name into its time part,
// backup-YYYYMMDD_HHMM, and its -N suffix (1 when there is none).
func SplitName(name string) (string, int) {
	const baseLen = len("backup-20060102_1504")
	if len(name) > baseLen+1 && name[baseLen] == '-' {
		if n, err := strconv.Atoi(name[baseLen+1:]); err == nil {
			return name[:baseLen], n
		}
	}
	return name, 1
}

// tableNameRE is what a table name must be to name a file.
var tableNameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)

// ValidTableName reports whether name can name a table's files:
// [A-Za-z0-9_]{1,128}.
func ValidTableName(name string) bool { return tableNameRE.MatchString(name) }

// TableFile is the path of a table's file in a format 1 or 2 backup.
func TableFile(name string) string { return "tables/" + name + ".jsonl.zst" }

// SegmentFile is the path of segment i of a table in a format 3 or later
// backup.
func SegmentFile(name string, i int) string {
	return "tables/" + name + "." + strconv.Itoa(i) + ".jsonl.zst"
}

// BlobFile is the path of a blob's file in a plain backup: the blob id,
// in a shard named by its first two characters.
func BlobFile(id string) string { return "blobs/" + id[:2] + "/" + id }

// Modes of what a backup writes: only the operator reads a backup.
const (
	DirPerm  = 0o700 // a backup's directories
	FilePerm = 0o600 // a backup's files
)

// IsShard reports whether name is two lowercase hex characters, the name
// of a folder of blob files (blobs/xx).
func IsShard(name string) bool {
	return len(name) == 2 && isHex(name[0]) && isHex(name[1])
}

func isHex(c byte) bool { return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') }
