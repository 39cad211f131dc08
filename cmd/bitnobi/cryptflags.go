package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
)

// Environment variables for encrypted backups. They name files: a
// passphrase is never taken from the command line or the environment
// itself, where other users of the machine could read it (ps, /proc).
const (
	EnvIdentityFile   = "BITNOBI_BACKUP_IDENTITY_FILE"   // default for --identity
	EnvPassphraseFile = "BITNOBI_BACKUP_PASSPHRASE_FILE" // default for --passphrase-file
)

// keysFlags adds --identity and --passphrase-file to fs, the keys that
// unlock encrypted backups, and returns a function to call after parsing
// that loads them: nil keys when neither is given (enough for plain
// backups).
func (m *Main) keysFlags(fs *flag.FlagSet) func() (*format.Keys, error) {
	identity := fs.String("identity", m.Getenv(EnvIdentityFile),
		"age identity file (age-keygen output) that unlocks encrypted backups (env "+EnvIdentityFile+")")
	passphrase := fs.String("passphrase-file", m.Getenv(EnvPassphraseFile),
		"file whose first line is the passphrase of encrypted backups (env "+EnvPassphraseFile+")")
	return func() (*format.Keys, error) {
		m.warnLooseFile(*passphrase, "passphrase")
		keys, err := format.LoadKeys(*identity, *passphrase)
		if err != nil {
			return nil, keysError(err, fs.Name())
		}
		return keys, nil
	}
}

// keysError turns an error loading keys into a [UsageError] that names
// the flag to fix.
func keysError(err error, cmd string) error {
	hint := backup.Hint(err)
	if hint == "" {
		hint = "bitnobi " + cmd + " --help"
	}
	return &UsageError{Err: err, Hint: hint}
}

// scryptWorkFactor is the scrypt cost of passphrase-encrypted backups
// (0: age's default). Tests lower it: scrypt takes seconds on purpose.
var scryptWorkFactor = 0

// encryptFlags are the flags of "bitnobi backup" that encrypt it.
type encryptFlags struct {
	encrypt        *bool
	recipients     stringList
	recipientsFile *string
	passphraseFile *string
	envPassphrase  string // $BITNOBI_BACKUP_PASSPHRASE_FILE
	warn           func(path, what string)
}

// encryptFlags adds --encrypt, --recipient, --recipients-file and
// --passphrase-file to fs. --passphrase-file defaults to
// $BITNOBI_BACKUP_PASSPHRASE_FILE, used only with --encrypt.
func (m *Main) encryptFlags(fs *flag.FlagSet) *encryptFlags {
	e := &encryptFlags{envPassphrase: m.Getenv(EnvPassphraseFile), warn: m.warnLooseFile}
	e.encrypt = fs.Bool("encrypt", false, "encrypt the backup (with --recipient, --recipients-file or --passphrase-file)")
	fs.Var(&e.recipients, "recipient", "age public key (age1...) to encrypt to; repeat for several")
	e.recipientsFile = fs.String("recipients-file", "", "file of age public keys to encrypt to, one per line")
	e.passphraseFile = fs.String("passphrase-file", "",
		"encrypt under the passphrase on this file's first line, instead of to recipients (default $"+EnvPassphraseFile+")")
	return e
}

// options returns the encryption the flags ask for, nil for a plain
// backup.
func (e *encryptFlags) options() (*format.EncryptOptions, error) {
	const hint = "bitnobi backup --encrypt --recipient age1... (or --recipients-file FILE, or --passphrase-file FILE)"
	explicit := len(e.recipients) > 0 || *e.recipientsFile != "" || *e.passphraseFile != ""
	if !*e.encrypt {
		if explicit {
			return nil, usagef(hint, "--recipient, --recipients-file and --passphrase-file need --encrypt")
		}
		return nil, nil
	}
	passFile := *e.passphraseFile
	haveRecipients := len(e.recipients) > 0 || *e.recipientsFile != ""
	if passFile == "" && !haveRecipients {
		passFile = e.envPassphrase
	}
	switch {
	case haveRecipients && passFile != "":
		return nil, usagef(hint, "encrypt to recipients or under a passphrase, not both")
	case passFile != "":
		e.warn(passFile, "passphrase")
		pass, err := format.ReadPassphraseFile(passFile)
		if err != nil {
			return nil, keysError(err, "backup")
		}
		return &format.EncryptOptions{Passphrase: pass, ScryptWorkFactor: scryptWorkFactor}, nil
	case haveRecipients:
		rs, err := format.LoadRecipients(e.recipients, *e.recipientsFile)
		if err != nil {
			return nil, keysError(err, "backup")
		}
		return &format.EncryptOptions{Recipients: rs}, nil
	}
	return nil, usagef(hint, "--encrypt needs --recipient, --recipients-file or --passphrase-file (or $%s)", EnvPassphraseFile)
}

// warnLooseFile warns on stderr, as ssh does of a private key, when the
// secret file path (a passphrase file; "" for none) can be
// read or written by its group or by others. It warns rather than refuses
// (unlike the master key, which is refused): the file keeps working, and
// a nightly backup does not fail over it, but the operator is told at
// every use. Files that cannot be inspected are left to the reader.
func (m *Main) warnLooseFile(path, what string) {
	if path == "" || runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	fmt.Fprintf(m.Stderr, "Warning: %s file %s has mode %04o: other users of this machine may read it, and with it the encrypted backups.\nTry: chmod 600 %s\n",
		what, path, fi.Mode().Perm(), path)
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
