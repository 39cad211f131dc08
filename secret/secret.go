// Package secret seals and unseals secrets, such as data-source passwords,
// with a 256-bit master [Key].
//
// [Seal] encrypts with AES-256-GCM and a random nonce and returns printable
// text ("v1:" followed by base64) that fits a TEXT column. [Open] reverses
// it and fails with [ErrDecrypt] if the key is wrong or the text was
// altered. The additional data passed to both, typically the table, row id
// and column, binds a sealed value to its place: copied to another row it
// no longer opens.
//
// The key lives in a key file ([LoadOrCreateKeyFile]) outside the
// database, so a stolen database dump alone reveals no secrets. Back it up
// separately: without it sealed secrets are lost. [Key.Fingerprint] lets a
// restore check that it has the key a backup was made with.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bitnobi/bitnobi/internal/fsutil"
)

// Errors returned by this package. Check them with [errors.Is].
var (
	// ErrDecrypt means a sealed secret did not authenticate: it was
	// sealed with another key or other additional data, or altered.
	ErrDecrypt = errors.New("wrong key or corrupted secret")

	// ErrMalformed means a string is not a sealed secret at all.
	ErrMalformed = errors.New("malformed sealed secret")

	// ErrInsecureKeyFile means a key file may be read or written by users
	// other than its owner.
	ErrInsecureKeyFile = errors.New("insecure key file permissions")

	// ErrMalformedKeyFile means a key file does not hold a key as 64 hex
	// characters.
	ErrMalformedKeyFile = errors.New("malformed key file")
)

const (
	// prefixV1 starts every value sealed by this version. Bump it if the
	// algorithm or layout ever changes, so old values still open.
	prefixV1 = "v1:"

	nonceSize = 12
	tagSize   = 16

	fingerprintContext = "bitnobi-key-fingerprint"

	// maxKeyFileSize bounds how much of a key file is read: a key file
	// is 65 bytes, so anything much larger is the wrong file.
	maxKeyFileSize = 1024
)

// b64 is the encoding of sealed values. Strict so that each sealed value
// has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// Key is a 256-bit master key. Its String method prints only its
// fingerprint, so logging a Key by mistake does not leak it.
type Key [32]byte

// GenerateKey returns a new random key from [crypto/rand].
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// Fingerprint returns the first 16 hex characters of
// SHA-256("bitnobi-key-fingerprint" || k). It reveals nothing useful about
// the key, so it is safe to print and to store, for example in a backup
// manifest, to tell later whether a key is the right one.
func (k Key) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(fingerprintContext))
	h.Write(k[:])
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// String returns "secret.Key(" + fingerprint + ")", never the key itself.
func (k Key) String() string { return "secret.Key(" + k.Fingerprint() + ")" }

// GoString is like [Key.String], so %#v does not leak the key either.
func (k Key) GoString() string { return k.String() }

// KeyFileError is returned for a key file that cannot be used. Hint, if
// set, tells the operator how to fix it.
type KeyFileError struct {
	Op   string // "read" or "create"
	Path string
	Err  error
	Hint string
}

// Error returns "Op key file Path: Err", followed by the hint if any.
func (e *KeyFileError) Error() string {
	s := e.Op + " key file " + e.Path + ": " + e.Err.Error()
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns Err.
func (e *KeyFileError) Unwrap() error { return e.Err }

// ReadKeyFile reads the key stored at path as 64 hex characters and an
// optional trailing newline. It refuses, with a [*KeyFileError] wrapping
// [ErrInsecureKeyFile], a file whose mode grants any access to group or
// others (except on Windows, where modes mean nothing), and, wrapping
// [ErrMalformedKeyFile], one that holds anything else or an all-zero key.
// A missing file gives an error wrapping [fs.ErrNotExist].
func ReadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, &KeyFileError{Op: "read", Path: path, Err: unwrapPathError(err)}
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return Key{}, &KeyFileError{Op: "read", Path: path, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return Key{}, &KeyFileError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Key{}, &KeyFileError{
			Op:   "read",
			Path: path,
			Err:  fmt.Errorf("%w: mode %04o gives group or others access", ErrInsecureKeyFile, perm),
			Hint: "run: chmod 600 " + path,
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, &KeyFileError{Op: "read", Path: path, Err: err}
	}
	k, err := parseKey(data)
	if err != nil {
		return Key{}, &KeyFileError{
			Op:   "read",
			Path: path,
			Err:  err,
			Hint: "restore the key file from your backup, or move it away to create a new key (secrets sealed with the old key are then lost)",
		}
	}
	return k, nil
}

func parseKey(data []byte) (Key, error) {
	text := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if len(text) != hex.EncodedLen(len(Key{})) {
		return Key{}, fmt.Errorf("%w: want 64 hex characters and a newline, found %d bytes", ErrMalformedKeyFile, len(data))
	}
	var k Key
	if _, err := hex.Decode(k[:], []byte(text)); err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrMalformedKeyFile, err)
	}
	if k == (Key{}) {
		return Key{}, fmt.Errorf("%w: the key is all zeros", ErrMalformedKeyFile)
	}
	return k, nil
}

// unwrapPathError drops the *fs.PathError layer, whose op and path
// KeyFileError already states.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadOrCreateKeyFile reads the key at path like [ReadKeyFile] and, if the
// file does not exist, creates it with a new key and reports created. The
// folder holding path must exist.
//
// Creation is atomic: the key is written to a temporary file (mode 0600)
// in the same folder, fsynced, and then put in place without replacing
// anything, and the folder is fsynced. If two processes race, both end up
// with the key of whichever got there first. A crash leaves either no key
// file or a complete one, plus perhaps a stray ".keytmp-*" file.
func LoadOrCreateKeyFile(path string) (k Key, created bool, err error) {
	k, err = ReadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = GenerateKey()
	if err != nil {
		return Key{}, false, err
	}
	switch err := createKeyFile(path, k); {
	case errors.Is(err, fs.ErrExist):
		// Someone else created it first: theirs is the key.
		k, err := ReadKeyFile(path)
		return k, false, err
	case err != nil:
		return Key{}, false, &KeyFileError{Op: "create", Path: path, Err: err}
	}
	return k, true, nil
}

// createKeyFile writes k to path, failing with fs.ErrExist if path exists.
func createKeyFile(path string, k Key) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".keytmp-*")
	if err != nil {
		return unwrapPathError(err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after success it is just a second name, or gone
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(k[:]) + "\n"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	// A hard link, unlike rename, never replaces an existing key, which
	// would make every secret sealed with it unreadable.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		// File systems without hard links: fall back to a rename, after
		// checking again that there is nothing to replace.
		if _, serr := os.Lstat(path); serr == nil {
			return fs.ErrExist
		}
		if err := os.Rename(tmp, path); err != nil {
			return unwrapPathError(err)
		}
	}
	return fsutil.SyncDir(dir)
}

func newAEAD(k Key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts and authenticates plaintext with k using AES-256-GCM and
// a random 12-byte nonce. additionalData is authenticated but not
// encrypted or stored: [Open] must be given the same bytes. The result is
// "v1:" followed by the unpadded standard base64 of nonce || ciphertext.
//
// Because nonces are random, one key should seal fewer than 2^32 values;
// a secrets table stays far below that.
func Seal(k Key, plaintext []byte, additionalData []byte) (string, error) {
	aead, err := newAEAD(k)
	if err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	buf := make([]byte, nonceSize, nonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	buf = aead.Seal(buf, buf[:nonceSize], plaintext, additionalData)
	return prefixV1 + b64.EncodeToString(buf), nil
}

// Open decrypts a value made by [Seal] with the same key and additional
// data. It returns an error wrapping [ErrMalformed] if sealed is not a
// sealed value (including an unknown version prefix) and one wrapping
// [ErrDecrypt] if it does not authenticate: wrong key, wrong additional
// data or altered text. It never panics, whatever the input.
func Open(k Key, sealed string, additionalData []byte) ([]byte, error) {
	body, ok := strings.CutPrefix(sealed, prefixV1)
	if !ok {
		version, _, found := strings.Cut(sealed, ":")
		if found && len(version) > 0 && len(version) <= 8 && strings.HasPrefix(version, "v") {
			return nil, fmt.Errorf("open secret: %w: unsupported version %q", ErrMalformed, version)
		}
		return nil, fmt.Errorf("open secret: %w: missing %q prefix", ErrMalformed, prefixV1)
	}
	// The base64 decoder skips newlines; a sealed value never has any.
	if strings.ContainsAny(body, "\r\n") {
		return nil, fmt.Errorf("open secret: %w: contains a line break", ErrMalformed)
	}
	raw, err := b64.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w: %v", ErrMalformed, err)
	}
	if len(raw) < nonceSize+tagSize {
		return nil, fmt.Errorf("open secret: %w: %d bytes is too short", ErrMalformed, len(raw))
	}
	aead, err := newAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", err)
	}
	plaintext, err := aead.Open(nil, raw[:nonceSize], raw[nonceSize:], additionalData)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", ErrDecrypt)
	}
	if plaintext == nil {
		plaintext = []byte{} // an empty secret is not a missing one
	}
	return plaintext, nil
}
