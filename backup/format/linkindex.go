package format

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// The sealed link index: docs/backup-format.md, "Linking encrypted tables
// (format 4)".

// The link index lets the next encrypted backup link the tables of this
// one without its age identity, which `bitnobi backup` does not have (it
// encrypts to public keys). It is what a plain manifest shows of its
// tables (instance, engine, schema version, tables with their change
// stamps and segments, and their files), sealed with XChaCha20-Poly1305
// under a key derived from the master key and the backup's series (its
// recipients, or its passphrase's file identity), and stored in the
// public manifest as "links" (format 4). Only a backup of the same
// database (same master key) to the same recipients opens it: exactly
// the backups that may share a file, since a linked file must be readable
// with the new backup's keys. See docs/backup-format.md.

// linksContext separates the key of the link index from other uses of
// the master key (see deriveKey).
const linksContext = "bitnobi backup links v1\n"

// maxLinksSize bounds the sealed link index, so that a damaged manifest
// cannot make a backup allocate without limit.
const maxLinksSize = 64 << 20

// LinkIndex is the sealed content of a manifest's "links".
type LinkIndex struct {
	InstanceID    string  `json:"instance_id"`
	Engine        string  `json:"engine"`
	SchemaVersion int     `json:"schema_version"`
	Tables        []Table `json:"tables"`
	// Files are the full manifest's entries of the tables' files (their
	// encoding and raw size, which the public manifest hides).
	Files []File `json:"files"`
}

// sealLinks returns the link index of the full manifest m, sealed and in
// base64, for its public manifest.
func (c *Cryptor) sealLinks(m *Manifest) (string, error) {
	idx := LinkIndex{InstanceID: m.InstanceID, Engine: m.Engine, SchemaVersion: m.SchemaVersion, Tables: m.Tables}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "tables/") {
			idx.Files = append(idx.Files, f)
		}
	}
	plain, err := json.Marshal(&idx)
	if err != nil {
		return "", fmt.Errorf("encode link index: %w", err)
	}
	var z bytes.Buffer
	zw := NewZstdWriter(&z)
	_, err = zw.Write(plain)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("compress link index: %w", err)
	}
	aead, err := chacha20poly1305.NewX(c.linksKey)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+z.Len()+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, z.Bytes(), []byte(linksContext))), nil
}

// ErrNoLinks says a previous backup's link index cannot be opened with
// this backup's key: another master key or series, or damage.
var ErrNoLinks = errors.New("the link index does not open with this backup's key")

// OpenLinks opens the sealed link index s of a previous backup. It
// returns an error matching ErrNoLinks when s was sealed under another
// key (or altered), which only means nothing can be linked.
func (c *Cryptor) OpenLinks(s string) (*LinkIndex, error) {
	if len(s) > maxLinksSize {
		return nil, fmt.Errorf("%w: link index larger than %d bytes", ErrMalformed, maxLinksSize)
	}
	sealed, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: link index: %v", ErrMalformed, err)
	}
	aead, err := chacha20poly1305.NewX(c.linksKey)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: link index of %d bytes", ErrMalformed, len(sealed))
	}
	nonce, box := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	z, err := aead.Open(nil, nonce, box, []byte(linksContext))
	if err != nil {
		return nil, ErrNoLinks
	}
	r, done, err := DecodeReader(bytes.NewReader(z), EncodingZstd)
	if err != nil {
		return nil, fmt.Errorf("%w: link index: %v", ErrMalformed, err)
	}
	defer done()
	plain, err := io.ReadAll(io.LimitReader(r, maxLinksSize+1))
	if err != nil || len(plain) > maxLinksSize {
		return nil, fmt.Errorf("%w: link index does not decompress", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var idx LinkIndex
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("%w: link index: %v", ErrMalformed, err)
	}
	return &idx, nil
}
