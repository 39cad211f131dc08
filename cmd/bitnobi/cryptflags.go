package main

import (
	"flag"
	"strings"

	"github.com/bitnobi/bitnobi/backup"
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
func (m *Main) keysFlags(fs *flag.FlagSet) func() (*backup.Keys, error) {
	identity := fs.String("identity", m.Getenv(EnvIdentityFile),
		"age identity file (age-keygen output) that unlocks encrypted backups (env "+EnvIdentityFile+")")
	passphrase := fs.String("passphrase-file", m.Getenv(EnvPassphraseFile),
		"file whose first line is the passphrase of encrypted backups (env "+EnvPassphraseFile+")")
	return func() (*backup.Keys, error) {
		keys, err := backup.LoadKeys(*identity, *passphrase)
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
}

// encryptFlags adds --encrypt, --recipient, --recipients-file and
// --passphrase-file to fs. --passphrase-file defaults to
// $BITNOBI_BACKUP_PASSPHRASE_FILE, used only with --encrypt.
func (m *Main) encryptFlags(fs *flag.FlagSet) *encryptFlags {
	e := &encryptFlags{envPassphrase: m.Getenv(EnvPassphraseFile)}
	e.encrypt = fs.Bool("encrypt", false, "encrypt the backup (with --recipient, --recipients-file or --passphrase-file)")
	fs.Var(&e.recipients, "recipient", "age public key (age1...) to encrypt to; repeat for several")
	e.recipientsFile = fs.String("recipients-file", "", "file of age public keys to encrypt to, one per line")
	e.passphraseFile = fs.String("passphrase-file", "",
		"encrypt under the passphrase on this file's first line, instead of to recipients (default $"+EnvPassphraseFile+")")
	return e
}

// options returns the encryption the flags ask for, nil for a plain
// backup.
func (e *encryptFlags) options() (*backup.EncryptOptions, error) {
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
		pass, err := backup.ReadPassphraseFile(passFile)
		if err != nil {
			return nil, keysError(err, "backup")
		}
		return &backup.EncryptOptions{Passphrase: pass, ScryptWorkFactor: scryptWorkFactor}, nil
	case haveRecipients:
		rs, err := backup.LoadRecipients(e.recipients, *e.recipientsFile)
		if err != nil {
			return nil, keysError(err, "backup")
		}
		return &backup.EncryptOptions{Recipients: rs}, nil
	}
	return nil, usagef(hint, "--encrypt needs --recipient, --recipients-file or --passphrase-file (or $%s)", EnvPassphraseFile)
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
