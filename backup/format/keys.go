package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"filippo.io/age"
)

// What unlocks an encrypted backup: docs/backup-format.md, "Encryption
// (format 2)" (identities and passphrases).

// Keys is what unlocks encrypted backups: age identities, either X25519
// identities (the private halves of the recipients a backup was encrypted
// to) or a scrypt identity made from the passphrase it was encrypted with.
// The zero value unlocks none; a nil *Keys means "no keys given", which is
// all a plain backup needs.
//
// A Keys made by [LoadKeys] or [NewKeys] remembers what it unlocked, so
// that a passphrase (scrypt is slow on purpose) is stretched once per
// backup, not once per file; a Keys literal works too, but stretches it
// for every file it reads. It is safe for concurrent use.
type Keys struct {
	Identities []age.Identity

	cache *unlockCache // nil: nothing is remembered
}

// NewKeys returns Keys holding ids.
func NewKeys(ids ...age.Identity) *Keys {
	return &Keys{Identities: ids, cache: &unlockCache{m: map[string]*unlocked{}}}
}

// maxKeyFileSize bounds how much of an identity or passphrase file is read.
const maxKeyFileSize = 1 << 20

// LoadKeys reads the keys that unlock encrypted backups: the age identity
// file identityFile (lines of AGE-SECRET-KEY-1..., "#" comments allowed,
// as age-keygen writes it), or the passphrase file passphraseFile, whose
// first line, trimmed of surrounding white space, is the passphrase. Give
// one of them, or both. With neither it returns nil, nil: no keys.
func LoadKeys(identityFile, passphraseFile string) (*Keys, error) {
	if identityFile == "" && passphraseFile == "" {
		return nil, nil
	}
	var ids []age.Identity
	if identityFile != "" {
		data, err := readKeyFile(identityFile)
		if err != nil {
			return nil, fmt.Errorf("identity file: %w", err)
		}
		parsed, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			return nil, &HintError{
				Err:  fmt.Errorf("%w: identity file %s: %v", ErrKeyFile, identityFile, err),
				Hint: "give the file age-keygen wrote (lines starting AGE-SECRET-KEY-1)",
			}
		}
		ids = append(ids, parsed...)
	}
	if passphraseFile != "" {
		pass, err := ReadPassphraseFile(passphraseFile)
		if err != nil {
			return nil, err
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("%w: passphrase file %s: %v", ErrKeyFile, passphraseFile, err)
		}
		ids = append(ids, id)
	}
	return NewKeys(ids...), nil
}

// ReadPassphraseFile returns the passphrase in the file at path: its first
// line, trimmed of surrounding white space. An empty passphrase is an
// error matching [ErrKeyFile].
func ReadPassphraseFile(path string) (string, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	line, _, err := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("passphrase file %s: %w", path, err)
	}
	pass := strings.TrimSpace(string(line))
	if pass == "" {
		return "", &HintError{
			Err:  fmt.Errorf("%w: passphrase file %s: the first line is empty", ErrKeyFile, path),
			Hint: "write the passphrase on the file's first line",
		}
	}
	return pass, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKeyFile, path, maxKeyFileSize)
	}
	return data, nil
}

// unlockCache remembers, per backup directory, what its encrypted
// manifest part gave.
type unlockCache struct {
	mu sync.Mutex
	m  map[string]*unlocked
}

// unlocked is what the encrypted part of one backup gave.
type unlocked struct {
	sum string         // SHA-256 of the encrypted part's bytes it came from
	ids []age.Identity // the identities that decrypt the backup's other files
}

func (k *Keys) cached(dir, sum string) *unlocked {
	if k == nil || k.cache == nil {
		return nil
	}
	k.cache.mu.Lock()
	defer k.cache.mu.Unlock()
	if u := k.cache.m[dir]; u != nil && u.sum == sum {
		return u
	}
	return nil
}

func (k *Keys) remember(dir string, u *unlocked) {
	if k == nil || k.cache == nil {
		return
	}
	k.cache.mu.Lock()
	defer k.cache.mu.Unlock()
	k.cache.m[dir] = u
}
