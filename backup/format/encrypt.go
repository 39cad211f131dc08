package format

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi/secret"
)

// Encryption: docs/backup-format.md, "Encryption (format 2)", "What stays
// readable without the key", "The encrypted part", "Tampering" and
// "Linking encrypted blobs".

// EncryptOptions says how backup.Create encrypts a backup. Give Recipients or
// Passphrase, not both (age never mixes a passphrase with other
// recipients).
type EncryptOptions struct {
	// Recipients are the age public keys (age1...) the backup is
	// encrypted to; any of their identities unlocks it.
	Recipients []age.Recipient
	// Passphrase, if not "", encrypts the backup under a passphrase,
	// stretched with scrypt.
	Passphrase string
	// ScryptWorkFactor is log2 of scrypt's cost for a passphrase; 0 means
	// age's default (18, about a second). Only tests lower it.
	ScryptWorkFactor int
}

// mode returns the encryption mode, or an error for options that cannot
// be used.
func (o *EncryptOptions) mode() (string, error) {
	switch {
	case len(o.Recipients) > 0 && o.Passphrase != "":
		return "", &HintError{
			Err:  fmt.Errorf("backup: %w: give recipients or a passphrase, not both", ErrKeyFile),
			Hint: "encrypt to recipients (--recipient, --recipients-file) or under a passphrase (--passphrase-file)",
		}
	case len(o.Recipients) > 0:
		for _, r := range o.Recipients {
			if _, ok := r.(fmt.Stringer); !ok {
				return "", fmt.Errorf("backup: %w: recipient of type %T has no text form", ErrKeyFile, r)
			}
		}
		return EncryptRecipients, nil
	case o.Passphrase != "":
		return EncryptPassphrase, nil
	}
	return "", &HintError{
		Err:  fmt.Errorf("backup: %w: encryption needs recipients or a passphrase", ErrKeyFile),
		Hint: "give --recipient age1..., --recipients-file FILE or --passphrase-file FILE",
	}
}

// LoadRecipients parses age recipients: each of recipients (age1...), and
// the lines of the file recipientsFile if not "" (as age -R reads it:
// one per line, "#" comments allowed). Errors match [ErrKeyFile].
func LoadRecipients(recipients []string, recipientsFile string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range recipients {
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(rs) != 1 {
			shown := fmt.Sprintf("%q", s)
			if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s)), "AGE-SECRET-KEY-") {
				// Never print a private key, not even to say it is one.
				shown = "AGE-SECRET-KEY-... (an identity, the private half)"
			}
			return nil, &HintError{
				Err:  fmt.Errorf("%w: recipient %s is not an age public key", ErrKeyFile, shown),
				Hint: "give the public key age-keygen printed (age1...), not the identity",
			}
		}
		out = append(out, rs...)
	}
	if recipientsFile != "" {
		data, err := readKeyFile(recipientsFile)
		if err != nil {
			return nil, fmt.Errorf("recipients file: %w", err)
		}
		rs, err := age.ParseRecipients(bytes.NewReader(data))
		if err != nil {
			return nil, &HintError{
				Err:  fmt.Errorf("%w: recipients file %s: %v", ErrKeyFile, recipientsFile, err),
				Hint: "give a file of age public keys (age1...), one per line",
			}
		}
		out = append(out, rs...)
	}
	return out, nil
}

// sealedPart is the content of SealedName, before encryption: what only
// the key reveals, and a copy of the public manifest that authenticates
// it.
type sealedPart struct {
	// Public is manifest.json as written, without its manifest_checksum
	// and without its entry for SealedName (whose hash cannot be known
	// before it is written). Unlocking compares it with manifest.json.
	Public *Manifest `json:"public"`
	// Manifest is the full manifest: tables, row counts, host, instance
	// ID, master-key fingerprint, and each file with its encoding, decoded
	// size and blob id.
	Manifest *Manifest `json:"manifest"`
	// MasterKey is the master key, in hex.
	MasterKey string `json:"master_key"`
	// FileIdentity is, in passphrase mode, the age X25519 identity the
	// other files are encrypted to; empty in recipients mode, where they
	// are encrypted to the recipients themselves.
	FileIdentity string `json:"file_identity,omitempty"`
}

// MaxSealedSize bounds how much of SealedName is read, decrypted and
// decoded: it holds two copies of the manifest.
const MaxSealedSize = 3 * MaxManifestSize

// Cryptor encrypts the files of one backup being written: it names blob
// files ([Cryptor.BlobName]), encrypts files ([Cryptor.Encrypt]) and seals
// the manifest ([Cryptor.Seal]) as docs/backup-format.md, "Encryption",
// describes.
type Cryptor struct {
	mode string
	// recipients the sealed part is encrypted to: the recipients, or a
	// scrypt recipient of the passphrase.
	sealTo []age.Recipient
	// recipients every other file is encrypted to: the recipients, or in
	// passphrase mode fileID's.
	fileTo []age.Recipient
	fileID *age.X25519Identity // passphrase mode only
	// nameKey keys the hash that names blob files (see blobName).
	nameKey []byte
	// linksKey seals the link index (see sealLinks).
	linksKey []byte
	// PrevWarning, if set, tells why blobs could not be linked from the
	// previous backup.
	PrevWarning string
}

// Mode returns the encryption mode, [EncryptRecipients] or
// [EncryptPassphrase].
func (c *Cryptor) Mode() string { return c.mode }

// nameContext separates the blob-naming key from other uses of the master
// key.
const nameContext = "bitnobi backup blob names v1\n"

// NewCryptor prepares the encryption of a backup under opts. In
// passphrase mode it unlocks the previous backup, in directory prevDir
// with manifest prev (nil if none), if encrypted under a passphrase, to
// reuse its file identity, so that its blob files can be linked; a wrong
// passphrase for prev only means nothing is linked ([Cryptor.PrevWarning]
// says so).
func NewCryptor(opts *EncryptOptions, key secret.Key, prevDir string, prev *Manifest) (*Cryptor, error) {
	mode, err := opts.mode()
	if err != nil {
		return nil, err
	}
	c := &Cryptor{mode: mode}
	var series string
	switch mode {
	case EncryptRecipients:
		c.sealTo, c.fileTo = opts.Recipients, opts.Recipients
		names := make([]string, 0, len(opts.Recipients))
		for _, r := range opts.Recipients {
			names = append(names, r.(fmt.Stringer).String())
		}
		slices.Sort(names)
		series = "recipients\n" + strings.Join(slices.Compact(names), "\n")
	case EncryptPassphrase:
		sr, err := age.NewScryptRecipient(opts.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("backup: %w: %v", ErrKeyFile, err)
		}
		if opts.ScryptWorkFactor > 0 {
			sr.SetWorkFactor(opts.ScryptWorkFactor)
		}
		c.sealTo = []age.Recipient{sr}
		if prev != nil && prev.Encryption != nil && prev.Encryption.Mode == EncryptPassphrase {
			id, err := age.NewScryptIdentity(opts.Passphrase)
			if err != nil {
				return nil, fmt.Errorf("backup: %w: %v", ErrKeyFile, err)
			}
			sp, err := readSealed(prevDir, NewKeys(id))
			if err == nil {
				if c.fileID, err = age.ParseX25519Identity(sp.FileIdentity); err != nil {
					c.fileID = nil
					err = fmt.Errorf("%w: file_identity is not an age identity", ErrMalformed)
				}
			}
			switch {
			case err == nil:
			case errors.Is(err, ErrWrongKey):
				c.PrevWarning = fmt.Sprintf("the previous backup %s has another passphrase: no blob is linked from it", filepath.Base(prevDir))
			default:
				c.PrevWarning = fmt.Sprintf("the previous backup %s cannot be unlocked (%v): no blob is linked from it", filepath.Base(prevDir), err)
			}
		}
		if c.fileID == nil {
			if c.fileID, err = age.GenerateX25519Identity(); err != nil {
				return nil, fmt.Errorf("backup: %w", err)
			}
		}
		c.fileTo = []age.Recipient{c.fileID.Recipient()}
		series = "passphrase\n" + c.fileID.Recipient().String()
	}
	c.nameKey = deriveKey(key[:], nameContext, series)
	c.linksKey = deriveKey(key[:], linksContext, series)
	return c, nil
}

// deriveKey returns the key for the use context (nameContext,
// linksContext) in a series of backups (the recipients, or the
// passphrase's file identity) under a master key.
func deriveKey(masterKey []byte, context, series string) []byte {
	mac := hmac.New(sha256.New, masterKey)
	mac.Write([]byte(context + series))
	return mac.Sum(nil)
}

// BlobName is the name of the file of blob id, stored with encoding enc,
// in an encrypted backup: HMAC-SHA256 under nameKey of enc and id, in
// hex. It reveals nothing of the id to whoever lacks the master key, and
// two backups name a blob alike only when they share the master key, the
// recipients (or passphrase series), and the encoding, which is what
// linking needs: the file can then be read with the new backup's keys and
// the encoding its encrypted part records.
func (c *Cryptor) BlobName(id, enc string) string {
	mac := hmac.New(sha256.New, c.nameKey)
	mac.Write([]byte(enc + "\n" + id))
	return hex.EncodeToString(mac.Sum(nil))
}

// Encrypt returns a writer that encrypts into w for the files' recipients.
// Close finishes the encryption; it does not close w. With c nil it
// writes to w as it is.
func (c *Cryptor) Encrypt(w io.Writer) (io.WriteCloser, error) {
	if c == nil {
		return nopWriteCloser{w}, nil
	}
	return age.Encrypt(w, c.fileTo...)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// publicManifest returns what manifest.json of the encrypted backup m
// shows: what "backups list" needs, and each file with the size and
// SHA-256 of its ciphertext. SealedName is not in its files yet.
func publicManifest(m *Manifest) *Manifest {
	p := &Manifest{
		Format:        m.Format,
		AppVersion:    m.AppVersion,
		SchemaVersion: m.SchemaVersion,
		Engine:        m.Engine,
		CreatedAt:     m.CreatedAt,
		MasterKey:     KeyInfo{Mode: KeySealed},
		Encryption:    m.Encryption,
		Previous:      m.Previous,
		Stats: Stats{
			FilesWritten: m.Stats.FilesWritten, BytesWritten: m.Stats.BytesWritten,
			FilesLinked: m.Stats.FilesLinked, BytesLinked: m.Stats.BytesLinked,
		},
		Files: make([]File, len(m.Files)),
	}
	for i, f := range m.Files {
		p.Files[i] = File{Path: f.Path, Size: f.Size, SHA256: f.SHA256, Encoding: EncodingAge}
	}
	return p
}

// Seal writes SealedName into the backup directory dir for the full
// manifest m and returns the public manifest, whose files include it.
func (c *Cryptor) Seal(dir string, m *Manifest, key secret.Key) (*Manifest, error) {
	pub := publicManifest(m)
	var err error
	if pub.Links, err = c.sealLinks(m); err != nil {
		return nil, err
	}
	sp := sealedPart{Public: pub, Manifest: m, MasterKey: hex.EncodeToString(key[:])}
	if c.mode == EncryptPassphrase {
		sp.FileIdentity = c.fileID.String()
	}
	plain, err := json.Marshal(&sp)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", SealedName, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, SealedName), os.O_CREATE|os.O_EXCL|os.O_WRONLY, FilePerm)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hw := NewHashingWriter(f)
	aw, err := age.Encrypt(hw, c.sealTo...)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", SealedName, err)
	}
	zw := NewZstdWriter(aw)
	_, err = zw.Write(plain)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := aw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", SealedName, err)
	}
	pub.Files = append(pub.Files, File{Path: SealedName, Size: hw.N, SHA256: hw.Sum(), Encoding: EncodingAge})
	SortFiles(pub.Files)
	m.public = pub
	return pub, nil
}

// readSealed decrypts and decodes the sealed part of the backup in dir
// with keys. It checks nothing against manifest.json; [Unlock] does.
func readSealed(dir string, keys *Keys) (*sealedPart, error) {
	r, err := OpenContent(dir, SealedName, EncodingZstd, keys)
	if err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: err, Hint: keyHint(err)}
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, MaxSealedSize+1))
	if err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: asTampered(err)}
	}
	if len(data) > MaxSealedSize {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxSealedSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sp sealedPart
	if err := dec.Decode(&sp); err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	if sp.Public == nil || sp.Manifest == nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: public or manifest missing", ErrMalformed)}
	}
	return &sp, nil
}

// keyHint tells the operator what to do about an error unlocking a
// backup.
func keyHint(err error) string {
	switch {
	case errors.Is(err, ErrKeyRequired):
		return "give the identity file (--identity FILE) or the passphrase file (--passphrase-file FILE) the backup was encrypted for"
	case errors.Is(err, ErrWrongKey):
		return "give the identity or passphrase this backup was encrypted for"
	case errors.Is(err, ErrVerify):
		return "the backup was altered or damaged: pick another backup"
	}
	return ""
}

// Unlocked is an encrypted backup opened with its key.
type Unlocked struct {
	Manifest *Manifest  // the full manifest; Manifest.Public() is manifest.json
	Key      secret.Key // the master key it carries (zero for a plain backup)
}

// Unlock returns the full manifest of the encrypted backup in dir, whose
// manifest.json pub holds, by decrypting its encrypted part with keys. It
// checks that the encrypted part's copy of manifest.json is exactly pub
// (so that the public part cannot be altered unnoticed), and the full
// manifest as [ParseManifest] checks a plain one. A plain backup's
// manifest is returned as it is. Errors match [ErrKeyRequired] (keys is
// nil or empty), [ErrWrongKey] (no identity or passphrase in keys opens
// it), or [ErrVerify] (it was altered), and name the file.
func Unlock(dir string, pub *Manifest, keys *Keys) (*Manifest, error) {
	u, err := UnlockKey(dir, pub, keys)
	if err != nil {
		return nil, err
	}
	return u.Manifest, nil
}

// UnlockKey is [Unlock] that also returns the master key the encrypted
// backup carries.
func UnlockKey(dir string, pub *Manifest, keys *Keys) (*Unlocked, error) {
	if pub.Encryption == nil {
		return &Unlocked{Manifest: pub}, nil
	}
	if pub.public != nil { // already the full manifest
		pub = pub.public
	}
	if keys == nil || len(keys.Identities) == 0 {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: ErrKeyRequired, Hint: keyHint(ErrKeyRequired)}
	}
	// The sealed part's ciphertext must be the one manifest.json lists,
	// before anything is decrypted.
	i := slices.IndexFunc(pub.Files, func(f File) bool { return f.Path == SealedName })
	if i < 0 {
		return nil, &FileError{Op: "unlock", Path: ManifestName, Err: fmt.Errorf("%w: %s is not listed", ErrMalformed, SealedName)}
	}
	sum, n, err := HashFile(filepath.Join(dir, SealedName), nil)
	if err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: %v", ErrMissingFile, err), Hint: keyHint(ErrVerify)}
	}
	if want := pub.Files[i]; sum != want.SHA256 || n != want.Size {
		return nil, &FileError{Op: "unlock", Path: SealedName,
			Err:  fmt.Errorf("%w: %d bytes with SHA-256 %s, manifest says %d bytes with %s", ErrChecksumMismatch, n, sum, want.Size, want.SHA256),
			Hint: keyHint(ErrVerify)}
	}
	sp, err := readSealed(dir, keys)
	if err != nil {
		return nil, err
	}
	tampered := func(format string, args ...any) error {
		return &FileError{Op: "unlock", Path: ManifestName,
			Err:  fmt.Errorf("%w: %s", ErrChecksumMismatch, fmt.Sprintf(format, args...)),
			Hint: "manifest.json was altered after the backup was written: pick another backup"}
	}
	// The public manifest must be the one the encrypted part was written
	// with, but for SealedName's entry and the checksum.
	want := *pub
	want.ManifestChecksum = ""
	want.Files = slices.DeleteFunc(slices.Clone(pub.Files), func(f File) bool { return f.Path == SealedName })
	a, err1 := json.Marshal(&want)
	b, err2 := json.Marshal(sp.Public)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return nil, tampered("it differs from the copy in %s", SealedName)
	}
	m := sp.Manifest
	m.ManifestChecksum = ""
	if err := m.validateHead(); err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: err}
	}
	if err := m.validateFull(true); err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: err}
	}
	// The full manifest agrees with the public one.
	if m.Format != pub.Format || m.AppVersion != pub.AppVersion || m.SchemaVersion != pub.SchemaVersion ||
		m.Engine != pub.Engine || !m.CreatedAt.Equal(pub.CreatedAt) || m.Previous != pub.Previous ||
		m.Encryption == nil || *m.Encryption != *pub.Encryption || len(m.Files) != len(want.Files) {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: the full manifest does not agree with manifest.json", ErrMalformed)}
	}
	for i, f := range m.Files {
		if w := want.Files[i]; f.Path != w.Path || f.Size != w.Size || f.SHA256 != w.SHA256 {
			return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: %s differs from manifest.json's entry", ErrMalformed, f.Path)}
		}
	}
	var key secret.Key
	if kb, err := hex.DecodeString(sp.MasterKey); err != nil || len(kb) != len(key) {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: master_key is not 64 hex characters", ErrMalformed)}
	} else {
		copy(key[:], kb)
	}
	if fp := key.Fingerprint(); fp != m.MasterKey.Fingerprint {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: master key has fingerprint %s, manifest says %s", ErrMalformed, fp, m.MasterKey.Fingerprint)}
	}
	m.public = pub
	// Remember the file identities, so that reading the files does not
	// decrypt the sealed part again (for a passphrase: scrypt again).
	ids, err := sp.fileIdentities(keys)
	if err != nil {
		return nil, err
	}
	if stamp := sealedStamp(dir); stamp != "" {
		keys.remember(dir, &unlocked{sum: stamp, ids: ids})
	}
	return &Unlocked{Manifest: m, Key: key}, nil
}

// fileIdentities returns the identities that decrypt the files other
// than SealedName: the file identity it holds (passphrase mode), or the
// keys that opened it (recipients mode).
func (sp *sealedPart) fileIdentities(keys *Keys) ([]age.Identity, error) {
	if sp.FileIdentity == "" {
		return keys.Identities, nil
	}
	id, err := age.ParseX25519Identity(sp.FileIdentity)
	if err != nil {
		return nil, &FileError{Op: "unlock", Path: SealedName, Err: fmt.Errorf("%w: file_identity is not an age identity", ErrMalformed)}
	}
	return []age.Identity{id}, nil
}

// FileIdentities returns the identities that decrypt the files (other
// than SealedName) of the encrypted backup in dir: in passphrase mode the
// file identity from its sealed part, in recipients mode keys' own. Keys
// made by [NewKeys] remember it per backup.
func FileIdentities(dir string, keys *Keys) ([]age.Identity, error) {
	stamp := sealedStamp(dir)
	if u := keys.cached(dir, stamp); u != nil {
		return u.ids, nil
	}
	sp, err := readSealed(dir, keys)
	if err != nil {
		return nil, err
	}
	ids, err := sp.fileIdentities(keys)
	if err != nil {
		return nil, err
	}
	if stamp != "" {
		keys.remember(dir, &unlocked{sum: stamp, ids: ids})
	}
	return ids, nil
}

// sealedStamp identifies the version of dir's SealedName for the cache:
// its size and modification time; "" if it cannot be read. The cache
// holds only identities for decrypting, never a verdict on integrity
// ([Unlock] checks that), so a stale entry can only fail to decrypt.
func sealedStamp(dir string) string {
	fi, err := os.Stat(filepath.Join(dir, SealedName))
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
}

// DecryptReader returns a reader of the age-encrypted content of r.
// sealed says r is SealedName, which ids are the operator's keys for:
// for it, no matching identity means the wrong key. For any other file
// the key is known to be right (the sealed part opened), so any failure
// means the file was altered or replaced. Read errors match
// [ErrChecksumMismatch].
func DecryptReader(r io.Reader, ids []age.Identity, sealed bool) (io.Reader, error) {
	if len(ids) == 0 {
		return nil, ErrKeyRequired
	}
	dr, err := age.Decrypt(r, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if sealed && errors.As(err, &nm) {
			return nil, fmt.Errorf("%w: %v", ErrWrongKey, err)
		}
		return nil, fmt.Errorf("%w: does not decrypt with the backup's key: %v", ErrChecksumMismatch, err)
	}
	return tamperReader{dr}, nil
}

// tamperReader turns an age payload's read errors, which mean the
// ciphertext was altered or truncated, into errors matching
// [ErrChecksumMismatch].
type tamperReader struct{ r io.Reader }

func (t tamperReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = asTampered(err)
	}
	return n, err
}

func asTampered(err error) error {
	if errors.Is(err, ErrVerify) {
		return err
	}
	return fmt.Errorf("%w: the encrypted content does not authenticate (altered or truncated): %v", ErrChecksumMismatch, err)
}
