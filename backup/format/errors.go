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
