package backup

import (
	"errors"

	"github.com/bitnobi/bitnobi/backup/format"
)

// ErrVerify matches every error that means a backup is damaged or was
// altered: [ErrChecksumMismatch], [ErrMissingFile], [ErrUnexpectedFile],
// [ErrUnsafePath] and [ErrMalformed]. Check it with [errors.Is]. It and
// the errors that match it are package format's.
var ErrVerify = format.ErrVerify

// verifyError is a sentinel of this package that also matches [ErrVerify].
type verifyError = format.VerifyError

// Errors about the content of a backup. Each matches [ErrVerify] too.
var (
	// ErrChecksumMismatch means a file's SHA-256 or size is not the one
	// the manifest records, or the manifest's own checksum is wrong.
	ErrChecksumMismatch = format.ErrChecksumMismatch

	// ErrMissingFile means a file the manifest lists is not there.
	ErrMissingFile = format.ErrMissingFile

	// ErrUnexpectedFile means the backup holds a file the manifest does
	// not list.
	ErrUnexpectedFile = format.ErrUnexpectedFile

	// ErrUnsafePath means a path in the backup would escape it: "..", an
	// absolute path, or a symbolic link.
	ErrUnsafePath = format.ErrUnsafePath

	// ErrMalformed means the manifest or a table file cannot be read as
	// this format defines, or does not agree with the schema it names.
	ErrMalformed = format.ErrMalformed
)

// Errors that refuse a backup which is intact but cannot be used here.
var (
	// ErrKeyMissing means the master key the backup needs was not found:
	// its file does not exist.
	ErrKeyMissing = errors.New("master key not found")

	// ErrKeyUnusable means the master key file the backup needs exists
	// but cannot be used: it cannot be read, is not a regular file, lets
	// other users access it, or does not hold a key. The error wraps the
	// reason ([fs.ErrPermission], [secret.ErrInsecureKeyFile],
	// [secret.ErrMalformedKeyFile], in a [*secret.KeyFileError]).
	ErrKeyUnusable = errors.New("master key file unusable")

	// ErrKeyMismatch means the master key found is not the one the
	// backup's secrets were sealed with.
	ErrKeyMismatch = errors.New("wrong master key")

	// ErrNoSpace means the file system lacks the room for the restored
	// state.
	ErrNoSpace = errors.New("not enough free disk space")

	// ErrTargetNotEmpty means a restore target exists, is not empty and is
	// not a Bitnobi data directory.
	ErrTargetNotEmpty = errors.New("not a Bitnobi data directory")
)

// Errors that refuse a directory before its content is checked, and about
// the keys of an encrypted backup: package format's, named here too.
var (
	// ErrNotBackup means a directory is not a backup: it has no
	// manifest.json, or is an interrupted backup's temporary directory.
	ErrNotBackup = format.ErrNotBackup

	// ErrNewerVersion means a backup's format or schema, or a live
	// database's schema, is newer than this binary knows.
	ErrNewerVersion = format.ErrNewerVersion

	// ErrKeyRequired means the backup is encrypted and no identity or
	// passphrase was given.
	ErrKeyRequired = format.ErrKeyRequired

	// ErrWrongKey means none of the identities or passphrases given
	// unlocks the backup.
	ErrWrongKey = format.ErrWrongKey

	// ErrKeyFile means an identity, recipient or passphrase file cannot
	// be used.
	ErrKeyFile = format.ErrKeyFile
)

// FileError is an error about one file of a backup or data directory
// (package format's [format.FileError]).
type FileError = format.FileError

// HintError is an error with a suggestion for the operator (package
// format's [format.HintError]).
type HintError = format.HintError

// Hint returns the operator hint carried by err (a [*FileError] or a
// [*HintError] in its chain), or "".
func Hint(err error) string { return format.Hint(err) }
