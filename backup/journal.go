package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bitnobi/bitnobi/internal/fsutil"
	"github.com/bitnobi/bitnobi/internal/lockfile"
)

// A restore switches states with two renames: the data directory D to
// the previous-state directory P (when D held state), then the staging
// directory S to D. Before the first it writes a journal beside D naming
// all three, and removes it after the second. Whoever finds a journal
// finishes the switch with [finishSwitch], which works from any point of
// it; see the package documentation.

// journal is the content of a restore journal file.
type journal struct {
	Version  int    `json:"version"`
	DataDir  string `json:"data_dir"`
	Staging  string `json:"staging"`
	Previous string `json:"previous"` // "" when D held no state
	Backup   string `json:"backup"`
	Started  string `json:"started"`
}

// Paths beside a data directory that a restore uses.
func journalPath(dataDir string) string     { return dataDir + ".restore-journal" }
func restoreLockPath(dataDir string) string { return dataDir + ".restore-lock" }
func stagingPath(dataDir string) string     { return dataDir + ".restore-staging" }

// RecoverInterruptedRestore finishes a restore into dataDir that was
// interrupted while switching the data directory to the restored state
// (a crash or power loss between its two renames), so that dataDir holds
// either the old state or the new one, never a mix or nothing. It does
// nothing, and returns nil, when no restore was interrupted. It also
// finishes the deletion of a previous state that a crash cut short
// (DATA_DIR.deleting-*, see RestoreOptions.DiscardPrevious).
//
// Call it before using a data directory: serve, backup and restore do. It
// fails with an error matching [lockfile.ErrLocked] when a restore into
// dataDir is running now.
func RecoverInterruptedRestore(dataDir string) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("recover interrupted restore: %w", err)
	}
	removeDeleting(dataDir, slog.Default())
	if ok, err := exists(journalPath(dataDir)); err != nil {
		return fmt.Errorf("recover interrupted restore: %w", err)
	} else if !ok {
		return nil
	}
	lock, err := lockRestore(dataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	_, err = recoverLocked(dataDir, slog.Default())
	return err
}

// lockRestore takes the lock that one restore into dataDir holds at a
// time, and that recovery takes to be sure no restore is running.
func lockRestore(dataDir string) (*lockfile.Lock, error) {
	l, err := lockfile.Acquire(restoreLockPath(dataDir), "restore")
	if err == nil {
		return l, nil
	}
	var he *lockfile.HeldError
	if errors.As(err, &he) {
		who := ""
		if he.PID > 0 {
			who = fmt.Sprintf(" (pid %d)", he.PID)
		}
		return nil, &HintError{
			Err:  fmt.Errorf("a restore into %s is in progress%s: %w", dataDir, who, lockfile.ErrLocked),
			Hint: "wait for it to finish",
		}
	}
	return nil, err
}

// recoverLocked finishes an interrupted switch, if a journal says there
// was one, and says what it did, as "completed the earlier restore of
// NAME" or "rolled back ..." ("" when there was none). The caller
// holds the restore lock.
func recoverLocked(dataDir string, logger *slog.Logger) (string, error) {
	data, err := os.ReadFile(journalPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("recover interrupted restore: %w", err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil || j.Version != 1 || j.DataDir != dataDir || j.Staging != stagingPath(dataDir) {
		return "", &HintError{
			Err:  fmt.Errorf("recover interrupted restore: journal %s is not readable or not about %s", journalPath(dataDir), dataDir),
			Hint: "inspect it: it names the data directory, the restored state and the previous state; put the right one in place by hand and remove the journal",
		}
	}
	what, err := finishSwitch(&j)
	if err != nil {
		return "", err
	}
	logger.Warn("finished an interrupted restore", "data_dir", dataDir, "backup", j.Backup, "outcome", what, "previous", j.Previous)
	if what == "restored" {
		return "completed the earlier restore of " + j.Backup, nil
	}
	return "rolled back the earlier restore of " + j.Backup, nil
}

// writeJournal durably writes j beside its data directory.
func writeJournal(j *journal) error {
	j.Version = 1
	if j.Started == "" {
		j.Started = time.Now().UTC().Format(time.RFC3339)
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(journalPath(j.DataDir), append(data, '\n')); err != nil {
		return fmt.Errorf("write restore journal: %w", err)
	}
	return nil
}

// switchHook, when set by tests, is called before each step of
// finishSwitch; returning an error stops the switch there, as a crash
// would.
var switchHook func(step string) error

// finishSwitch performs whichever steps of the switch described by j are
// not yet done, then removes the journal. It is idempotent: the state of
// the three directories tells which steps are done. It returns what the
// data directory now holds: "restored" or "previous".
func finishSwitch(j *journal) (string, error) {
	parent := filepath.Dir(j.DataDir)
	step := func(name string) error {
		if switchHook != nil {
			return switchHook(name)
		}
		return nil
	}
	fail := func(err error) (string, error) {
		return "", &HintError{
			Err:  fmt.Errorf("switch %s to the restored state: %w", j.DataDir, err),
			Hint: "run the command again: the restore journal " + journalPath(j.DataDir) + " lets it finish the switch",
		}
	}
	hasS, err := exists(j.Staging)
	if err != nil {
		return fail(err)
	}
	hasD, err := exists(j.DataDir)
	if err != nil {
		return fail(err)
	}
	outcome := "restored"
	switch {
	case hasS && hasD:
		// The first rename is not done (D still holds the old state), or
		// it is and D was made anew since, empty, by a process that did
		// not recover first.
		prevDone := false
		if j.Previous != "" {
			if prevDone, err = exists(j.Previous); err != nil {
				return fail(err)
			}
		}
		if j.Previous != "" && !prevDone {
			if err := step("rename-previous"); err != nil {
				return fail(err)
			}
			if err := renameNoReplace(j.DataDir, j.Previous); err != nil {
				return fail(err)
			}
		} else {
			if err := step("remove-empty"); err != nil {
				return fail(err)
			}
			if err := removeEmptyTarget(j.DataDir); err != nil {
				return fail(err)
			}
		}
		if err := fsutil.SyncDir(parent); err != nil {
			return fail(err)
		}
		fallthrough
	case hasS:
		if err := step("rename-staging"); err != nil {
			return fail(err)
		}
		if err := renameNoReplace(j.Staging, j.DataDir); err != nil {
			return fail(err)
		}
		if err := fsutil.SyncDir(parent); err != nil {
			return fail(err)
		}
	case hasD:
		// Both renames are done.
	default:
		// Neither: only possible if someone moved things by hand. Put
		// the previous state back rather than leave nothing.
		ok, err := exists(j.Previous)
		if j.Previous == "" || err != nil || !ok {
			return fail(fmt.Errorf("neither the restored state %s nor the data directory exists", j.Staging))
		}
		if err := os.Rename(j.Previous, j.DataDir); err != nil {
			return fail(err)
		}
		if err := fsutil.SyncDir(parent); err != nil {
			return fail(err)
		}
		outcome = "previous"
	}
	if err := step("remove-journal"); err != nil {
		return fail(err)
	}
	if err := os.Remove(journalPath(j.DataDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if err := fsutil.SyncDir(parent); err != nil {
		return fail(err)
	}
	return outcome, nil
}

// lockNames are the files a data directory holds that are not state.
var lockNames = map[string]bool{"bitnobi.lock": true, "gc.lock": true}

// removeEmptyTarget removes dir, which must hold nothing but lock files.
func removeEmptyTarget(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !lockNames[e.Name()] {
			return fmt.Errorf("%s is not empty: it holds %s", dir, e.Name())
		}
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}
