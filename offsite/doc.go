// Package offsite copies Bitnobi backups to S3-compatible storage and
// back: "bitnobi backups push", "pull", "list --remote",
// "prune --remote", "verify --remote" and "bitnobi restore s3://...".
//
// # Layout in the bucket
//
// Under the target's prefix P (which may be empty):
//
//	P/data/<aa>/<sha256>                  one object per distinct file content
//	P/backups/<name>/manifest.json        a complete backup (written last)
//	P/backups/<name>/pending-manifest.json a push under way or interrupted
//
// Every file of a backup but manifest.json (tables' segments, blob files,
// and manifest.age in an encrypted backup) is stored once, under the
// lowercase hex SHA-256 of its bytes as the manifest records it. A file
// that another backup already sent, or an earlier, interrupted push of
// the same backup, is therefore never sent again: pushing the next
// backup of an installation sends only the segments and blobs that
// changed. The bytes are copied as they are on disk, so an encrypted
// backup stays encrypted in the bucket; the keys never leave the machine.
//
// # Push, step by step, and what a crash leaves behind
//
//  1. The local backup's manifest is read and checked (its checksum).
//     A remote backup of the same name that is complete and has the
//     same manifest checksum means there is nothing to do; one with a
//     different checksum is refused ([ErrConflict]): nothing is replaced.
//  2. The manifest is uploaded as pending-manifest.json, so that a
//     remote prune keeps the objects of a push under way (for
//     [PruneOptions.Grace]) and "list --remote" shows it as incomplete.
//  3. The objects under data/ are listed once; every file whose object
//     is missing, or has another size, is uploaded with its SHA-256 sent
//     along (x-amz-checksum-sha256, which the server checks), then
//     checked: the object's size and the SHA-256 the server stored must
//     be the manifest's (a server that keeps no SHA-256 has the object
//     read back and hashed). A crash here leaves objects and the pending
//     manifest: no complete backup. The next push skips what arrived.
//  4. manifest.json is uploaded and checked the same way, and only then
//     pending-manifest.json is removed. From here the backup is complete
//     remotely; a crash before the removal leaves a stale pending
//     manifest that the next push or prune removes.
//
// # What is verified
//
// Pull and restore stream the objects as the tar archive "bitnobi
// backups export" writes and hand it to [backup.Import] or
// [backup.Unpack]: the remote backup is verified exactly as an imported
// archive is (every file's size and SHA-256, every table and blob
// decoded) before it appears in the backup folder or is restored.
// [Remote.Verify] downloads every object and checks its size and SHA-256
// against the manifest, without writing anything to disk.
//
// # Concurrency
//
// One push, prune or pull at a time per prefix is the supported use: the
// server's scheduler runs them one after another. A prune that overlaps
// a push keeps the objects the push's pending manifest names, but an
// object the push found already present could still be removed by a
// prune that decided before the pending manifest was written; [Remote.Verify]
// finds such a gap, and the next push fills it.
package offsite
