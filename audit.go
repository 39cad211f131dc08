package bitnobi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// Audit actions. Every action of the audit list in BITNOBI.md has one; each
// is recorded in the same transaction as the change it records.
const (
	ActionSignUp           = "user.signup"
	ActionSignIn           = "user.signin"
	ActionSignOut          = "user.signout"
	ActionUserUpdate       = "user.update"
	ActionUserDelete       = "user.delete"
	ActionPolicyCreate     = "policy.create"
	ActionPolicyUpdate     = "policy.update"
	ActionPolicyDelete     = "policy.delete"
	ActionDataSourceCreate = "datasource.create"
	ActionDataSourceUpdate = "datasource.update"
	ActionDataSourceDelete = "datasource.delete"
	ActionDataSourceAccess = "datasource.access"
	ActionWorkflowCreate   = "workflow.create"
	ActionWorkflowUpdate   = "workflow.update"
	ActionWorkflowDelete   = "workflow.delete"
	ActionWorkflowStart    = "workflow.start"
	ActionWorkflowEnd      = "workflow.end"
	ActionReportCreate     = "report.create"
	ActionReportUpdate     = "report.update"
	ActionReportDelete     = "report.delete"
	ActionRemoteCreate     = "remote.create"
	ActionRemoteUpdate     = "remote.update"
	ActionRemoteDelete     = "remote.delete"
	ActionSettingsUpdate   = "settings.update"
	ActionRestore          = "system.restore"
	ActionPasswordReset    = "user.password_reset"
)

// Account actions added after the list above: the administrator setting
// another user's password (separate from user.update, so that a reset
// stands out in the log), and ending every session of a user.
const (
	ActionUserPasswordReset = "user.password_reset"
	ActionSignOutAll        = "user.signout_all"
)

// Backup actions of the administration page: a backup downloaded (as the
// export archive) and a backup deleted from the backup folder.
const (
	ActionBackupDownload = "backup.download"
	ActionBackupDelete   = "backup.delete"
)

// AuditEntry is one record of the append-only audit log. Each entry carries
// Hash, a SHA-256 over its content and PrevHash, the previous entry's hash,
// so that any change to or removal of an earlier entry breaks the chain.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	ActorID    string    `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	Detail     string    `json:"detail"` // JSON object, "" when none
	RemoteAddr string    `json:"remote_addr"`
	RemoteUser string    `json:"remote_user"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
}

// AuditFilter selects audit entries. Zero fields do not filter.
type AuditFilter struct {
	ActorID  string
	Action   string
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	AfterSeq int64     // paging: entries with Seq > AfterSeq
	Limit    int       // at most this many (the service caps it)
}

// AuditService reads the audit log. Only the administrator may.
type AuditService interface {
	// FindAuditEntries returns entries matching f in Seq order.
	// Errors: EFORBIDDEN.
	FindAuditEntries(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// VerifyAuditChain checks every entry's hash and link; it returns the
	// number of entries checked. Errors: EFORBIDDEN; a broken chain is an
	// error naming the first bad Seq.
	VerifyAuditChain(ctx context.Context) (int64, error)
}

// ComputeHash returns the hex SHA-256 that e.Hash must hold: a hash over
// every field of e but Hash itself, PrevHash included, each field prefixed by
// its length so that no two different entries hash alike. Times are hashed
// in [TimeFormat], the form they are stored in.
func (e *AuditEntry) ComputeHash() string {
	var h [2 * sha256.Size]byte
	return string(e.AppendHash(h[:0]))
}

// AppendHash appends [AuditEntry.ComputeHash] of e to dst, without
// allocating when dst has room: a reader that recomputes a run of hashes
// keeps them in one buffer.
func (e *AuditEntry) AppendHash(dst []byte) []byte {
	// The hashed bytes are assembled in one buffer, on the stack for most
	// entries, and hashed at once: a restore or a check of the chain
	// hashes millions of entries, and a hash.Hash written field by field
	// cost an allocation per field.
	var stack [1024]byte
	b := hashField(stack[:0], "bitnobi-audit-v1")
	b, n := beginHashField(b)
	b = endHashField(strconv.AppendInt(b, e.Seq, 10), n)
	b, n = beginHashField(b)
	b = endHashField(appendTime(b, e.At), n) // as FormatTime
	for _, s := range [...]string{e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Detail, e.RemoteAddr, e.RemoteUser, e.PrevHash} {
		b = hashField(b, s)
	}
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:])
}

// appendTime appends t in [TimeFormat] after converting it to UTC, as
// t.UTC().AppendFormat(b, TimeFormat) does, several times faster: a check
// of the chain formats a time for every entry it hashes.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	h, mi, s := t.Clock()
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends the n last decimal digits of v >= 0 to b.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, make([]byte, n)...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// hashField appends s to b for [AuditEntry.ComputeHash]: its length as 8
// bytes, big-endian, then s.
func hashField(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
}

// beginHashField appends room for a field's length to b, and endHashField
// fills it in once the field was appended after it: a field appended in
// place rather than given as a string.
func beginHashField(b []byte) ([]byte, int) {
	return binary.BigEndian.AppendUint64(b, 0), len(b)
}

func endHashField(b []byte, start int) []byte {
	binary.BigEndian.PutUint64(b[start:], uint64(len(b)-start-8))
	return b
}
