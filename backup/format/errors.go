package format

import "errors"

// ErrVerify matches every error that means a backup is damaged or was
// altered: [ErrChecksumMismatch], [ErrMissingFile], [ErrUnexpectedFile],
// [ErrUnsafePath] and [ErrMalformed]. Check it with [errors.Is].
var ErrVerify = errors.New("backup does not verify")

// VerifyError is a sentinel that also matches [ErrVerify].
type VerifyError string

// Error returns the sentinel's text.
func (e VerifyError) Error() string { return string(e) }

// Is reports whether target is [ErrVerify].
func (e VerifyError) Is(target error) bool { return target == ErrVerify }

// Errors about the content of a backup. Each matches [ErrVerify] too.
var (
	// ErrChecksumMismatch means a file's SHA-256 or size is not the one
	// the manifest records, or the manifest's own checksum is wrong.
	ErrChecksumMismatch error = VerifyError("checksum mismatch")

	// ErrMissingFile means a file the manifest lists is not there.
	ErrMissingFile error = VerifyError("file missing")

	// ErrUnexpectedFile means the backup holds a file the manifest does
	// not list.
	ErrUnexpectedFile error = VerifyError("unexpected file")

	// ErrUnsafePath means a path in the backup would escape it: "..", an
	// absolute path, or a symbolic link.
	ErrUnsafePath error = VerifyError("unsafe path")

	// ErrMalformed means the manifest or a table file cannot be read as
	// this format defines, or does not agree with the schema it names.
	ErrMalformed error = VerifyError("malformed backup")
)

// Errors that refuse a directory before its content is checked.
var (
	// ErrNotBackup means a directory is not a backup: it has no
	// manifest.json, or is an interrupted backup's temporary directory.
	ErrNotBackup = errors.New("not a backup")

	// ErrNewerVersion means a backup's format or schema, or a live
	// database's schema, is newer than this binary knows.
	ErrNewerVersion = errors.New("newer than this bitnobi knows")
)

// FileError is an error about one file of a backup or data directory.
// Hint, when set, tells the operator what to do.
type FileError struct {
	Op   string // what was being done: "verify", "read", "restore"...
	Path string // the file, relative to the backup for backup files
	Err  error
	Hint string
}

// Error returns "Op Path: Err".
func (e *FileError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }

// HintError is an error with a suggestion for the operator.
type HintError struct {
	Err  error
	Hint string
}

// Error returns Err's message.
func (e *HintError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *HintError) Unwrap() error { return e.Err }

// Hint returns the operator hint carried by err (a [*FileError] or a
// [*HintError] in its chain), or "".
func Hint(err error) string {
	for err != nil {
		switch e := err.(type) {
		case *FileError:
			if e.Hint != "" {
				return e.Hint
			}
		case *HintError:
			if e.Hint != "" {
				return e.Hint
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if h := Hint(e); h != "" {
					return h
				}
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// Errors about the keys of an encrypted backup.
var (
	// ErrKeyRequired means the backup is encrypted and no identity or
	// passphrase was given.
	ErrKeyRequired = errors.New("backup is encrypted: an identity or passphrase is needed")

	// ErrWrongKey means none of the identities or passphrases given
	// unlocks the backup.
	ErrWrongKey = errors.New("no identity or passphrase given unlocks the backup")

	// ErrKeyFile means an identity, recipient or passphrase file cannot
	// be used.
	ErrKeyFile = errors.New("unusable key file")
)
