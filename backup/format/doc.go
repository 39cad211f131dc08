// Package format holds the parts of the backup format
// (docs/backup-format.md) that stand apart from the machinery which
// writes, verifies and restores backups in package backup, so that the
// specification and its code can be read side by side:
//
//   - layout.go: "Layout", the names of backups ([Name], [Prefix],
//     [NameLess]) and of the files in them ([SegmentFile], [BlobFile]);
//   - manifest.go: "manifest.json", its size limit and checksum rule, the
//     master key's mode and the versioning rules ([Manifest],
//     [FormatVersion], [ReadManifest], [ParseManifest]);
//   - rows.go: "Tables", the encoding of a table file's rows, one JSON
//     array a line ([Column], [AppendRow], [RowReader]);
//   - compress.go: "Compression", the encodings of a file ([EncodingZstd],
//     [ZstdWriter], [DecodeReader]) and the sample that decides whether a
//     blob is stored compressed ([CompressSample]);
//   - segments.go: "Segments", a table's files ([Segment], [SegmentKeys],
//     [Table.Parts]);
//   - encrypt.go: "Encryption (format 2)" to "Linking encrypted blobs":
//     the sealed part, the public manifest, blob naming ([Cryptor],
//     [Unlock]); keys.go: the identities and passphrases that unlock a
//     backup ([Keys]); linkindex.go: "Linking encrypted tables (format
//     4)" ([LinkIndex]);
//   - content.go: reading one file of a backup, decrypted and decoded
//     ([OpenContent]), and hashing what is written ([HashingWriter]);
//   - errors.go: the errors of a backup that does not verify
//     ([ErrVerify] and the errors that match it) or cannot be opened
//     ([ErrNotBackup], [ErrKeyRequired]...), which package backup returns
//     as its own.
//
// "Archives" is package backup/archive. What uses the format (creating,
// verifying and restoring a backup, the backup folder) is package backup.
package format
