// Package bitnobi holds the domain of Bitnobi, a self-hosted platform on which
// organisations share data under attribute-based policies: the entities
// (users, policies, data sources, workflows, reports, remote servers,
// settings, the audit log), the error codes user-facing errors carry, and the
// service interfaces the HTTP API is built on.
//
// The package imports only the standard library. Storage adapters (package
// sqlite), the blob store, the secret sealer, the backup engine and the HTTP
// API talk to one another through the types declared here; only cmd/bitnobi
// wires them together.
package bitnobi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Version is the application version. cmd/bitnobi overwrites it from its
// build information at start.
var Version = "0.1.0-dev"

// TimeFormat is the layout every stored timestamp uses: UTC with nanosecond
// precision and a fixed width, so that text order is time order on every
// database engine and in backups.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// FormatTime formats t in [TimeFormat] after converting it to UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime parses a timestamp written by [FormatTime]. It also accepts any
// RFC 3339 timestamp, so that API filters may use the common form.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeFormat, s)
	if err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// NewID returns a new stable record identifier: 32 lowercase hex characters,
// the first 12 of which encode the creation time in milliseconds, so that IDs
// sort roughly by creation and primary-key order is creation order. IDs are
// kept unchanged by backup and restore.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[:6], ts[2:])
	if _, err := rand.Read(b[6:]); err != nil {
		panic("bitnobi: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of an ID made by [NewID].
func ValidID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
