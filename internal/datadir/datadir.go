// Package datadir knows the layout of a Bitnobi data directory:
//
//	DIR/bitnobi.db       SQLite database (with -wal and -shm beside it)
//	DIR/blobs/           content-addressed blob store (see package blob)
//	DIR/master.key       master key sealing the secrets (mode 0600)
//	DIR/bitnobi.lock     exclusive lock held by a server or a restore
//	DIR/gc.lock          shared by backups, exclusive for the blob collector
package datadir

import "path/filepath"

// Dir is a data directory.
type Dir string

// DB is the path of the SQLite database.
func (d Dir) DB() string { return filepath.Join(string(d), "bitnobi.db") }

// Blobs is the path of the blob store.
func (d Dir) Blobs() string { return filepath.Join(string(d), "blobs") }

// Key is the default path of the master key.
func (d Dir) Key() string { return filepath.Join(string(d), "master.key") }

// Lock is the path of the lock file a server or a restore holds.
func (d Dir) Lock() string { return filepath.Join(string(d), "bitnobi.lock") }

// GCLock is the path of the lock that keeps the blob collector and backups
// apart: backups hold it shared, the collector exclusive.
func (d Dir) GCLock() string { return filepath.Join(string(d), "gc.lock") }

// Path is the directory itself.
func (d Dir) Path() string { return string(d) }
