// Package bitnobi holds the domain of Bitnobi, a self-hosted platform on which
// organisations share data under attribute-based policies: the entities
// (users, policies, data sources, workflows, reports, remote servers,
// settings, the audit log), the error codes user-facing errors carry, and the
// service interfaces the HTTP API is built on.
//
// The package imports only the standard library. The services over SQL
// (package store, with an engine's dialect and connection in package
// sqlite or postgres), the blob store, the secret sealer, the backup
// engine and the HTTP API talk to one another through the types declared
// here; only cmd/bitnobi wires them together.
package bitnobi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
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

// NewID returns a new stable record identifier: 32 lowercase hex
// characters. The first 12 encode the creation time in milliseconds and the
// next 4 a counter within that millisecond, so IDs made by one process are
// strictly increasing and primary-key order is creation order, even for
// records made in the same millisecond; the rest is random. IDs are kept
// unchanged by backup and restore.
func NewID() string {
	var b [16]byte
	ms, seq := nextIDTime()
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[:6], ts[2:])
	binary.BigEndian.PutUint16(b[6:8], seq)
	if _, err := rand.Read(b[8:]); err != nil {
		panic("bitnobi: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

var idClock struct {
	sync.Mutex
	ms  uint64
	seq uint16
}

// nextIDTime returns the millisecond and counter for the next ID: the
// counter restarts each millisecond; when it runs out, or the clock steps
// back, the millisecond is carried forward so IDs never decrease.
func nextIDTime() (uint64, uint16) {
	idClock.Lock()
	defer idClock.Unlock()
	now := uint64(time.Now().UnixMilli())
	switch {
	case now > idClock.ms:
		idClock.ms, idClock.seq = now, 0
	case idClock.seq == 0xffff:
		idClock.ms, idClock.seq = idClock.ms+1, 0
	default:
		idClock.seq++
	}
	return idClock.ms, idClock.seq
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
