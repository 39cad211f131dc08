// Package blob is a content-addressed file store.
//
// A blob is named by the lowercase hex SHA-256 of its content (64
// characters, see [ValidID]) and lives at Dir/ab/abcdef..., where "ab" is
// the first two characters of its id. Spreading blobs over 256 sub-folders
// keeps each directory small.
//
// # Writing
//
// [Store.Put] streams its input into a new file under Dir/tmp, hashing as it
// goes, so a blob of any size costs one fixed buffer of memory. It then
// fsyncs the file, renames it to its final name and fsyncs the directory.
// What a crash leaves behind at each step:
//
//   - while streaming or before the rename: a partial or complete file in
//     Dir/tmp, which no reader ever looks at. [Store.CleanTemp] removes it
//     later.
//   - after the rename but before the directory fsync: after a power loss
//     the blob may be missing again, and Put has not returned yet, so no
//     caller has recorded its id.
//
// A blob is never visible under its final name with partial content,
// because rename is atomic and the data was fsynced first.
//
// Because the name is the content, writing the same bytes twice stores them
// once: the second Put finds the final file already there and just removes
// its temporary file.
//
// # Concurrency
//
// Any number of goroutines and processes may use one Store at once. Put and
// [Store.Link] of the same content race harmlessly: whichever rename wins,
// the file has the same bytes. Removing a blob while another goroutine puts
// the same content can lose the blob; callers that garbage-collect blobs
// must exclude writers while they do so (see package internal/lockfile).
package blob
