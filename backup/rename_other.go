//go:build !linux

package backup

// renameNoReplace renames oldpath to newpath, failing with an error
// matching [fs.ErrExist] if newpath exists. Callers hold the backup
// folder's lock, so no other bitnobi process creates newpath meanwhile.
func renameNoReplace(oldpath, newpath string) error { return renameCheck(oldpath, newpath) }
