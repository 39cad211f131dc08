package format

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
)

// The manifest: docs/backup-format.md, "manifest.json" (with its "Size
// limit" and "Checksum rule"), "Master key", "Engines" and "Versioning
// rules".

// FormatVersion is the newest version of the backup format this package
// reads and the one it writes. A change that a reader of an earlier
// version would misread increments it; see docs/backup-format.md. Format
// 1 is a plain backup with one file per table, format 2 adds encryption,
// format 3 stores a table as one or more segments ([Segment]), so that a
// backup can hard-link the unchanged ones from the previous backup, and
// format 4 gives an encrypted backup a sealed link index
// ([Manifest.Links]), so that the next one can link its tables too, and
// format 5 carries the sealed audit log: the table audit_segments indexes
// segment files that are blobs like any other (copied, checked and linked
// as blobs are), and audit_log holds only the live tail after them; its
// segment files are of version 2 (package store/auditseg). Format 6:
// audit segment files may be of version 3 (a dictionary per segment),
// besides version 2, which segments sealed by an earlier build keep;
// nothing else changes, but a reader of format 5, which reads only
// version 2, must refuse the backup by its format, before it reads a
// segment, rather than take a version-3 segment for a damaged file.
const FormatVersion = 6

// FormatSegments is the first format whose tables list segments instead
// of one file.
const FormatSegments = 3

// FormatLinks is the first format whose encrypted backups carry a link
// index.
const FormatLinks = 4

// ManifestName is the name of the manifest file in a backup directory.
const ManifestName = "manifest.json"

// SealedName is the name of the encrypted part of an encrypted backup's
// manifest: the full manifest and the master key, age-encrypted to the
// backup's recipients or passphrase.
const SealedName = "manifest.age"

// Master-key modes of a backup.
const (
	// KeyExternal: the backup does not carry the master key; the operator
	// keeps it apart and restore is given it.
	KeyExternal = "external"
	// KeySealed: the backup carries the master key in its encrypted part
	// ([SealedName]); only encrypted backups do.
	KeySealed = "sealed"
)

// Encryption modes: what unlocks an encrypted backup.
const (
	// EncryptRecipients: age X25519 (or hybrid) identities, the private
	// halves of the recipients the backup was encrypted to.
	EncryptRecipients = "recipients"
	// EncryptPassphrase: a passphrase, stretched with scrypt.
	EncryptPassphrase = "passphrase"
)

// EncryptionScheme is the only value of [Encryption.Scheme].
const EncryptionScheme = "age-v1"

// MaxManifestSize bounds a manifest.json (docs/backup-format.md, "Size
// limit"). A manifest lists every file of a backup in about 250 bytes, so
// 10 GB of state in 100,000 blobs is a manifest of about 25 MB; 256 MiB
// leaves ten times that and keeps a hostile manifest's cost (it is held in
// memory and decoded twice) to about a GiB of allocation.
const MaxManifestSize = 256 << 20

// Manifest describes a backup: what it was taken from, and every file in
// it with its size and SHA-256. It is stored as manifest.json, written
// last, so a backup directory with a complete manifest is a complete
// backup. Its last member, manifest_checksum, is the SHA-256 of the file's
// bytes before that member (see [ParseManifest]).
type Manifest struct {
	Format        int       `json:"format"`
	AppVersion    string    `json:"app_version"`
	SchemaVersion int       `json:"schema_version"`
	Engine        string    `json:"engine"`
	CreatedAt     time.Time `json:"created_at"` // the snapshot's time, UTC
	Host          string    `json:"host"`
	InstanceID    string    `json:"instance_id"`
	MasterKey     KeyInfo   `json:"master_key"`
	// Encryption is set for an encrypted backup (format 2 and later),
	// nil for a plain one.
	Encryption *Encryption `json:"encryption,omitempty"`
	// Previous names the backup in the same folder whose blob files this
	// one hard-linked, or is empty.
	Previous string `json:"previous,omitempty"`
	// Links is, in the public manifest of an encrypted backup (format 4
	// and later), its link index: what the next backup of the same
	// database to the same keys needs to link its tables, sealed under a
	// key derived from the master key (see docs/backup-format.md).
	Links  string  `json:"links,omitempty"`
	Stats  Stats   `json:"stats"`
	Tables []Table `json:"tables"`
	Files  []File  `json:"files"`
	// ManifestChecksum is the lowercase hex SHA-256 of every byte of
	// manifest.json before this member's name.
	ManifestChecksum string `json:"manifest_checksum,omitempty"`

	// public is, for the full manifest of an encrypted backup (from its
	// encrypted part), the public manifest.json it was unlocked with.
	public *Manifest
}

// Encryption says how an encrypted backup was encrypted. Every file but
// manifest.json is age-encrypted; what manifest.json shows and what only
// the key reveals is specified in docs/backup-format.md.
type Encryption struct {
	Scheme string `json:"scheme"` // EncryptionScheme
	Mode   string `json:"mode"`   // EncryptRecipients or EncryptPassphrase
}

// Encrypted reports whether m is the manifest of an encrypted backup.
func (m *Manifest) Encrypted() bool { return m.Encryption != nil }

// Locked reports whether m is the public manifest of an encrypted
// backup: without the tables, row counts, host, instance ID, master-key
// fingerprint and blob ids, which only the key reveals (see [Unlock]).
func (m *Manifest) Locked() bool { return m.Encryption != nil && m.public == nil }

// Public returns the manifest as manifest.json holds it: m itself for a
// plain backup or a locked one, and the public manifest that the full
// manifest of an encrypted backup was unlocked with. Its files are the
// files on disk, with the SHA-256 of the bytes on disk.
func (m *Manifest) Public() *Manifest {
	if m.public != nil {
		return m.public
	}
	return m
}

// ContentKeys returns the keys to give [OpenContent] for the files of the
// backup m describes: nil for a plain backup.
func (m *Manifest) ContentKeys(keys *Keys) *Keys {
	if m.Encryption == nil {
		return nil
	}
	return keys
}

// KeyInfo says how the master key travels with a backup.
type KeyInfo struct {
	// Fingerprint is the key's [secret.Key.Fingerprint].
	Fingerprint string `json:"fingerprint"`
	// Mode is [KeyExternal] (the key is not in the backup) or, for an
	// encrypted backup, [KeySealed] (the key is in its encrypted part).
	// The public manifest of an encrypted backup shows only the mode.
	Mode string `json:"mode"`
}

// Stats counts what writing the backup cost.
type Stats struct {
	Rows         int64 `json:"rows"`          // rows in all tables
	Blobs        int64 `json:"blobs"`         // blobs in the backup
	BlobBytes    int64 `json:"blob_bytes"`    // their size, decoded
	FilesWritten int64 `json:"files_written"` // files written anew
	BytesWritten int64 `json:"bytes_written"` // their size on disk
	FilesLinked  int64 `json:"files_linked"`  // files hard-linked from Previous
	BytesLinked  int64 `json:"bytes_linked"`  // their size on disk
}

// Table describes one table of a backup: its columns, and the files that
// hold its rows.
type Table struct {
	Name string `json:"name"`
	// File is, in formats 1 and 2, the one file of the table's rows:
	// tables/<name>.jsonl.zst. Format 3 lists Segments instead.
	File string `json:"file,omitempty"`
	// Segments are, in format 3, the files of the table's rows in order:
	// their lines, concatenated, are the table's rows in primary-key
	// order. Use [Table.Parts], which works for every format.
	Segments []Segment `json:"segments,omitempty"`
	// ChangeStamp is, in format 3, the table's change stamp in the
	// snapshot (store.ChangeStamps), or empty if it had none. The next
	// backup compares it to decide what it may hard-link.
	ChangeStamp string   `json:"change_stamp,omitempty"`
	Rows        int64    `json:"rows"`
	RawSize     int64    `json:"raw_size"` // bytes of JSON lines, decoded
	Columns     []Column `json:"columns"`
	PrimaryKey  []string `json:"primary_key"`
}

// File describes one file of a backup other than manifest.json.
type File struct {
	Path     string `json:"path"`     // slash-separated, relative to the backup
	Size     int64  `json:"size"`     // bytes on disk
	SHA256   string `json:"sha256"`   // of the bytes on disk, lowercase hex
	Encoding string `json:"encoding"` // EncodingNone or EncodingZstd; EncodingAge in a public manifest of an encrypted backup
	RawSize  int64  `json:"raw_size"` // bytes once decoded (0 in a public manifest of an encrypted backup)
	// Blob is, for a blob file, the blob id (the SHA-256 of its decoded
	// content): the file's name in a plain backup, a keyed hash of it in
	// an encrypted one, where only the encrypted part holds the id.
	Blob string `json:"blob,omitempty"`
}

var (
	checksumRE = regexp.MustCompile(`"manifest_checksum"\s*:\s*"([0-9a-f]{64})"\s*\}\s*\z`)
	hexRE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	base64RE   = regexp.MustCompile(`^[A-Za-z0-9+/]*={0,2}$`)
)

// Marshal returns the manifest as written to manifest.json: indented
// JSON whose last member is manifest_checksum, computed here.
func (m *Manifest) Marshal() ([]byte, error) {
	c := *m
	c.ManifestChecksum = ""
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	body, ok := bytes.CutSuffix(b, []byte("\n}"))
	if !ok {
		return nil, errors.New("encode manifest: unexpected JSON layout")
	}
	body = append(body, ",\n  "...)
	sum := sha256.Sum256(body)
	m.ManifestChecksum = hex.EncodeToString(sum[:])
	return fmt.Appendf(body, "\"manifest_checksum\": %q\n}\n", m.ManifestChecksum), nil
}

// ParseManifest parses and checks the content of a manifest.json. It
// checks, in order: the checksum (the SHA-256 of the bytes before the
// last member "manifest_checksum", which must be the last member), the
// format version, then every field. Errors match [ErrChecksumMismatch],
// [ErrMalformed], [ErrUnsafePath] or [ErrNewerVersion].
func ParseManifest(data []byte) (*Manifest, error) {
	loc := checksumRE.FindSubmatchIndex(data)
	if loc == nil {
		return nil, fmt.Errorf("%w: manifest does not end with a manifest_checksum member (truncated?)", ErrMalformed)
	}
	sum := sha256.Sum256(data[:loc[0]])
	if want := string(data[loc[2]:loc[3]]); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%w: manifest content does not match its manifest_checksum", ErrChecksumMismatch)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD silently.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: manifest is not valid UTF-8", ErrMalformed)
	}
	var head struct {
		Format     int    `json:"format"`
		AppVersion string `json:"app_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if head.Format > FormatVersion {
		if !shortText(head.AppVersion) {
			head.AppVersion = "(unreadable version)"
		}
		return nil, &HintError{
			Err: fmt.Errorf("%w: backup format %d (written by bitnobi %s) is newer than this bitnobi %s reads (format %d)",
				ErrNewerVersion, head.Format, head.AppVersion, bitnobi.Version, FormatVersion),
			Hint: "restore it with bitnobi " + head.AppVersion + " or newer",
		}
	}
	if head.Format < 1 {
		return nil, fmt.Errorf("%w: manifest format %d is not a version", ErrMalformed, head.Format)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: manifest: data after the JSON object", ErrMalformed)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ReadManifest reads and checks dir/manifest.json with [ParseManifest]. A
// directory without one gives an error matching [ErrNotBackup]; a
// manifest that is a symbolic link, [ErrUnsafePath].
func ReadManifest(dir string) (*Manifest, error) {
	if IsTemp(filepath.Base(dir)) {
		return nil, &HintError{
			Err:  fmt.Errorf("%s: %w: it is the temporary directory of a backup that was interrupted or is being written", dir, ErrNotBackup),
			Hint: "pick a complete backup: bitnobi backups list",
		}
	}
	p := filepath.Join(dir, ManifestName)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(dir); derr != nil {
			return nil, &HintError{Err: fmt.Errorf("%w: %v", ErrNotBackup, derr), Hint: "pick a backup: bitnobi backups list"}
		}
		return nil, &HintError{
			Err:  fmt.Errorf("%s: %w: no %s", dir, ErrNotBackup, ManifestName),
			Hint: "pick a complete backup: bitnobi backups list",
		}
	} else if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{Op: "read", Path: ManifestName, Err: fmt.Errorf("%w: not a regular file", ErrUnsafePath)}
	}
	tooLarge := &FileError{Op: "read", Path: ManifestName, Err: fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxManifestSize)}
	// Refused on its declared size before any of it is read (a sparse
	// file may declare terabytes); the limited read below catches a file
	// that grows meanwhile.
	if fi.Size() > MaxManifestSize {
		return nil, tooLarge
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + 1) // one allocation, not ReadAll's doublings
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxManifestSize+1)); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	data := buf.Bytes()
	if len(data) > MaxManifestSize {
		return nil, tooLarge
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, &FileError{Op: "read", Path: ManifestName, Err: err, Hint: Hint(err)}
	}
	return m, nil
}

// validate checks every field of a parsed manifest.json: a plain
// backup's complete manifest, or an encrypted backup's public one.
func (m *Manifest) validate() error {
	if err := m.validateHead(); err != nil {
		return err
	}
	if m.Encryption == nil {
		return m.validateFull(false)
	}
	return m.validatePublic()
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// knownEngines are the database engines a backup may come from.
var knownEngines = map[string]bool{"sqlite": true, "postgres": true}

// maxShortText bounds the informative strings of a manifest, which are
// printed to operators.
const maxShortText = 255

// shortText reports whether s is short and holds no control characters,
// so that printing it cannot flood or drive a terminal.
func shortText(s string) bool {
	if len(s) > maxShortText {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// validateHead checks the members every manifest has.
func (m *Manifest) validateHead() error {
	switch {
	case m.SchemaVersion < 1:
		return bad("schema_version %d", m.SchemaVersion)
	case m.Engine == "":
		return bad("engine is empty")
	case !knownEngines[m.Engine]:
		return bad("engine %.64q is not one of sqlite, postgres", m.Engine)
	case !shortText(m.AppVersion) || !shortText(m.Host) || !shortText(m.InstanceID):
		return bad("app_version, host or instance_id is longer than %d bytes or holds control characters", maxShortText)
	case m.CreatedAt.IsZero():
		return bad("created_at is missing")
	}
	if m.Links != "" && (m.Encryption == nil || m.Format < FormatLinks) {
		return bad("links in a plain backup or before format %d", FormatLinks)
	}
	if e := m.Encryption; e != nil {
		switch {
		case m.Format < 2:
			return bad("format %d has no encryption", m.Format)
		case e.Scheme != EncryptionScheme:
			return bad("encryption.scheme %q is not %q", e.Scheme, EncryptionScheme)
		case e.Mode != EncryptRecipients && e.Mode != EncryptPassphrase:
			return bad("encryption.mode %q", e.Mode)
		case m.MasterKey.Mode != KeySealed:
			return bad("master_key.mode %q of an encrypted backup is not %q", m.MasterKey.Mode, KeySealed)
		}
	} else if m.MasterKey.Mode != KeyExternal {
		return bad("master_key.mode %q is not %q", m.MasterKey.Mode, KeyExternal)
	}
	return nil
}

// validatePublic checks the public manifest of an encrypted backup: it
// lists every file, SealedName included, as age-encrypted, and shows
// nothing that only the key may reveal.
func (m *Manifest) validatePublic() error {
	switch {
	case m.MasterKey.Fingerprint != "":
		return bad("the public manifest of an encrypted backup shows master_key.fingerprint")
	case len(m.Tables) > 0:
		return bad("the public manifest of an encrypted backup lists tables")
	case m.Host != "" || m.InstanceID != "":
		return bad("the public manifest of an encrypted backup shows host or instance_id")
	case m.Stats.Rows != 0 || m.Stats.Blobs != 0 || m.Stats.BlobBytes != 0:
		return bad("the public manifest of an encrypted backup shows rows, blobs or blob_bytes")
	case len(m.Links) > maxLinksSize || !base64RE.MatchString(m.Links):
		return bad("links is not base64 of at most %d bytes", maxLinksSize)
	}
	prev, sealed := "", false
	for _, f := range m.Files {
		if f.Path == SealedName {
			sealed = true
		} else if err := CheckPath(f.Path); err != nil {
			return err
		}
		if f.Path <= prev {
			return bad("files are not sorted by path, or %s is listed twice", f.Path)
		}
		prev = f.Path
		switch {
		case !hexRE.MatchString(f.SHA256):
			return bad("%s: sha256 %q is not 64 lowercase hex characters", f.Path, f.SHA256)
		case f.Size < 0:
			return bad("%s: negative size", f.Path)
		case f.Encoding != EncodingAge || f.RawSize != 0 || f.Blob != "":
			return bad("%s: a file of an encrypted backup shows encoding %q, raw_size or blob", f.Path, f.Encoding)
		}
	}
	if !sealed {
		return bad("encrypted backup without %s", SealedName)
	}
	return nil
}

// validateFull checks the tables and files of a complete manifest: a
// plain backup's, or (keyed) the one in an encrypted backup's encrypted
// part, whose blob files are named by a keyed hash of their id.
func (m *Manifest) validateFull(keyed bool) error {
	switch {
	case m.MasterKey.Fingerprint == "":
		return bad("master_key.fingerprint is empty")
	case len(m.Tables) == 0:
		return bad("no tables")
	case m.Links != "":
		return bad("links belong in the public manifest only")
	}
	files := make(map[string]*File, len(m.Files))
	prev := ""
	for i := range m.Files {
		f := &m.Files[i]
		if err := CheckPath(f.Path); err != nil {
			return err
		}
		if f.Path <= prev {
			return bad("files are not sorted by path, or %s is listed twice", f.Path)
		}
		prev = f.Path
		files[f.Path] = f
		if !hexRE.MatchString(f.SHA256) {
			return bad("%s: sha256 %q is not 64 lowercase hex characters", f.Path, f.SHA256)
		}
		if f.Size < 0 || f.RawSize < 0 {
			return bad("%s: negative size", f.Path)
		}
		switch f.Encoding {
		case EncodingNone:
			if f.RawSize != f.Size && !keyed {
				return bad("%s: raw_size %d differs from size %d but encoding is none", f.Path, f.RawSize, f.Size)
			}
		case EncodingZstd:
		default:
			return bad("%s: unknown encoding %q", f.Path, f.Encoding)
		}
		if strings.HasPrefix(f.Path, "blobs/") {
			name := f.Path[len("blobs/xx/"):]
			if !blob.ValidID(f.Blob) || (!keyed && f.Blob != name) {
				return bad("%s: blob %q does not match its path", f.Path, f.Blob)
			}
		} else if f.Blob != "" {
			return bad("%s: blob set on a table file", f.Path)
		}
	}
	seen := map[string]bool{}
	owner := map[string]string{} // table file -> table
	for _, t := range m.Tables {
		if !ValidTableName(t.Name) {
			return bad("table name %q", t.Name)
		}
		if seen[t.Name] {
			return bad("table %s listed twice", t.Name)
		}
		seen[t.Name] = true
		if err := m.validateParts(t, files, owner); err != nil {
			return err
		}
		if t.Rows < 0 || len(t.Columns) == 0 || len(t.PrimaryKey) == 0 {
			return bad("table %s: rows, columns or primary_key missing", t.Name)
		}
		for _, c := range t.Columns {
			switch c.Type {
			case "TEXT", "INTEGER", "REAL":
			default:
				return bad("table %s: column %s has type %q", t.Name, c.Name, c.Type)
			}
		}
	}
	for p := range files {
		if strings.HasPrefix(p, "tables/") && owner[p] == "" {
			return bad("file %s belongs to no table", p)
		}
	}
	if !seen["blobs"] {
		return bad("no blobs table")
	}
	return nil
}

// validateParts checks a table's files: format 1 and 2 name one, format
// 3 lists segments, each a file of the manifest that no other table or
// segment claims (owner records the claims), with row and byte counts
// that add up, and key ranges in order that do not overlap.
func (m *Manifest) validateParts(t Table, files map[string]*File, owner map[string]string) error {
	if m.Format < FormatSegments {
		if t.File != TableFile(t.Name) || t.Segments != nil || t.ChangeStamp != "" {
			return bad("table %s: file %q, want %q and no segments", t.Name, t.File, TableFile(t.Name))
		}
	} else if t.File != "" || len(t.Segments) == 0 {
		return bad("table %s: format %d lists segments, not one file", t.Name, m.Format)
	} else if len(t.ChangeStamp) > maxShortText || !hexOnly(t.ChangeStamp) {
		return bad("table %s: change_stamp is not hex", t.Name)
	}
	var rows, raw int64
	var prevTo int64
	for i, s := range t.Parts() {
		if m.Format >= FormatSegments && s.File != SegmentFile(t.Name, i) {
			return bad("table %s: segment %d is %q, want %q", t.Name, i, s.File, SegmentFile(t.Name, i))
		}
		f := files[s.File]
		if f == nil {
			return bad("table %s: file %s is not listed in files", t.Name, s.File)
		}
		if owner[s.File] != "" {
			return bad("table %s: file %s belongs to table %s too", t.Name, s.File, owner[s.File])
		}
		owner[s.File] = t.Name
		if f.Encoding != EncodingZstd || f.RawSize != s.RawSize || s.Rows < 0 {
			return bad("table %s: file %s does not agree (encoding %s, raw_size %d)", t.Name, s.File, f.Encoding, f.RawSize)
		}
		if s.Keys != nil {
			from, to := s.Keys[0], s.Keys[1]
			switch {
			case from > to || (i > 0 && from <= prevTo):
				return bad("table %s: segment %s: key range [%d, %d] is empty or overlaps the one before", t.Name, s.File, from, to)
			case s.Rows > 0 && (s.First < from || s.Last > to || s.First > s.Last || s.Last-s.First < s.Rows-1):
				return bad("table %s: segment %s: keys %d to %d do not fit %d rows in [%d, %d]", t.Name, s.File, s.First, s.Last, s.Rows, from, to)
			case s.Rows > 0 && !hexRE.MatchString(s.LastRowSHA256):
				return bad("table %s: segment %s: last_row_sha256 is not 64 hex characters", t.Name, s.File)
			}
			prevTo = to
		} else if len(t.Parts()) > 1 || s.First != 0 || s.Last != 0 || s.LastRowSHA256 != "" {
			return bad("table %s: segment %s has no key range", t.Name, s.File)
		}
		rows += s.Rows
		raw += s.RawSize
	}
	if rows != t.Rows || raw != t.RawSize {
		return bad("table %s: segments hold %d rows and %d bytes, the table says %d and %d", t.Name, rows, raw, t.Rows, t.RawSize)
	}
	return nil
}

// hexOnly reports whether s holds only lowercase hex digits.
func hexOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// CheckPath accepts only the two shapes of file path a backup holds
// besides its manifest: tables/<name>.jsonl.zst (format 3:
// tables/<name>.<n>.jsonl.zst) and blobs/<aa>/<name>,
// name being 64 lowercase hex characters (the blob id, or in an encrypted
// backup a keyed hash of it). Anything that could
// leave the backup directory gives [ErrUnsafePath].
func CheckPath(p string) error {
	if !fs.ValidPath(p) || strings.Contains(p, `\`) || strings.HasPrefix(p, "/") || p == "." {
		return &FileError{Op: "check", Path: p, Err: fmt.Errorf("%w: path is absolute or leaves the backup", ErrUnsafePath)}
	}
	dir, name := pathDir(p)
	switch {
	case dir == "tables" && isTableFileName(name):
		return nil
	case strings.HasPrefix(dir, "blobs/") && len(dir) == len("blobs/xx") && blob.ValidID(name) && dir[len("blobs/"):] == name[:2]:
		return nil
	}
	return &FileError{Op: "check", Path: p, Err: fmt.Errorf("%w: not a path this format uses", ErrMalformed)}
}

// isTableFileName reports whether name is <table>.jsonl.zst or
// <table>.<n>.jsonl.zst, n a decimal number without leading zeros.
func isTableFileName(name string) bool {
	base, ok := strings.CutSuffix(name, ".jsonl.zst")
	if !ok {
		return false
	}
	if t, n, ok := strings.Cut(base, "."); ok {
		if len(n) == 0 || len(n) > 9 || (n[0] == '0' && len(n) > 1) || strings.Trim(n, "0123456789") != "" {
			return false
		}
		base = t
	}
	return ValidTableName(base)
}

func pathDir(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// SortFiles sorts manifest files by path, the order a manifest lists them.
func SortFiles(files []File) {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
}
