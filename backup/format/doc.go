// Package format holds the parts of the backup format
// (docs/backup-format.md) that stand apart from the machinery which
// writes, verifies and restores backups in package backup, so that the
// specification and its code can be read side by side:
//
//   - layout.go: "Layout", the names of backups ([Name], [Prefix],
//     [NameLess]) and of the files in them ([SegmentFile], [BlobFile]);
//   - compress.go: "Compression", the encodings of a file ([EncodingZstd],
//     [ZstdWriter], [DecodeReader]) and the sample that decides whether a
//     blob is stored compressed ([CompressSample]);
//   - rows.go: "Tables", the encoding of a table file's rows, one JSON
//     array a line ([AppendRow], [RowReader]);
//   - errors.go: the errors of a backup that does not verify
//     ([ErrVerify] and the errors that match it), which package backup
//     returns as its own.
//
// The rest of the format is still in package backup, one file per
// section of the specification: manifest.go ("manifest.json"),
// segments.go ("Segments"), encrypt.go,
// keys.go and linkindex.go ("Encryption", "Linking encrypted tables"),
// and archive/ ("Archives"). They move here next (issue 12).
package format
