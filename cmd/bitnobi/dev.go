package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/internal/seed"
)

const devHelp = `Usage: bitnobi dev COMMAND [flags]

Tools for developers; not for production data directories.

Commands:
`

const devSeedHelp = `Usage: bitnobi dev seed --data-dir DIR --size S|M|L [--seed N] [--history N] [--mutate]

Fills a new data directory with realistic state, deterministically from
--seed, through the same store services the server uses: users with
attributes (the administrator is "admin"), policies, uploaded CSV data
sources, SQL data sources, workflows with attached policies, runs,
reports, remote servers, e-mail settings with sealed passwords, and an
audit log of a year of use. Sizes, roughly (data directory on disk):

  S   ~100 MB:  50 MiB of uploads,    100,000 audit entries
  M   ~2 GB:     1 GiB of uploads,  2,000,000 audit entries
  L   ~10 GB:    5 GiB of uploads, 10,000,000 audit entries

--history N makes N times the audit history, over N years of use instead
of one, with everything else the same (the same uploads, so the same
blobs): an installation that has kept N years of audit log.

--mutate instead changes about 1% of an already seeded directory the way a
day of use does: a few uploads and new workflows, edits and deletions of
workflows, policies, a data source and a report, a few runs, and 1% of the
audit log's size in new entries.

The same seed gives the same content (names, attributes, file contents and
so blob IDs, times from a simulated clock); record IDs differ from run to
run, being random by design. Every seeded user's password is
"` + seed.Password + `", hashed with cheap argon2id parameters (64 KiB, one
pass) so that seeding is fast: never use this on a real installation.

Progress goes to stderr, a summary to stdout. The data directory must not
be in use by a server.
`

func (m *Main) runDevSeed(ctx context.Context, args []string) error {
	fs := m.newFlagSet("dev seed", devSeedHelp)
	dataDir := m.dataDirFlag(fs)
	sizeName := fs.String("size", "S", "how much state: S, M or L")
	seedN := fs.Uint64("seed", 1, "seed of the random streams")
	history := fs.Int("history", 1, "years of audit history: N times the size's audit entries, the rest unchanged")
	mutate := fs.Bool("mutate", false, "change about 1% of an already seeded data directory, as a day of use")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bitnobi dev seed --help", "seed takes no arguments, got %q", fs.Args())
	}
	size, ok := seed.Sizes[strings.ToUpper(*sizeName)]
	if !ok {
		return usagef("bitnobi dev seed --size S", "unknown size %q: S, M or L", *sizeName)
	}
	if *history < 1 {
		return usagef("bitnobi dev seed --history 1", "--history %d: want 1 or more years", *history)
	}
	size = size.WithHistory(*history)
	dir := datadir.Dir(*dataDir)
	if *mutate {
		if _, err := os.Stat(dir.DB()); err != nil {
			return usagef("bitnobi dev seed --data-dir "+dir.Path()+" --size "+size.Name, "no Bitnobi database in %s to mutate", dir.Path())
		}
	}
	if err := os.MkdirAll(dir.Path(), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockfile.Acquire(dir.Lock(), "dev seed")
	if err != nil {
		return lockError(err)
	}
	defer lock.Release()
	a, err := m.openApp(ctx, dir, "", true)
	if err != nil {
		return err
	}
	defer a.Close()

	var log io.Writer = m.Stderr
	if *quiet {
		log = nil
	}
	s := &seed.Seeder{DB: a.DB, Size: size, Seed: *seedN, Log: log}
	var st *seed.Stats
	if *mutate {
		st, err = s.Mutate(ctx)
		if errors.Is(err, seed.ErrNotSeeded) {
			return usagef("bitnobi dev seed --data-dir NEW_DIR --size "+size.Name, "%v", err)
		}
	} else {
		st, err = s.Fill(ctx)
		if errors.Is(err, seed.ErrSeeded) {
			return usagef("bitnobi dev seed --mutate --data-dir "+dir.Path(), "%s: %v; seed a new directory, or pass --mutate", dir.Path(), err)
		}
	}
	if err != nil {
		return err
	}
	what := "seeded"
	if *mutate {
		what = "mutated"
	}
	hist := ""
	if *history > 1 {
		hist = fmt.Sprintf(", %d years of audit history", *history)
	}
	fmt.Fprintf(m.Stdout, "%s %s (size %s, seed %d%s)\n%s", what, dir.Path(), size.Name, *seedN, hist, st.Summary())
	return nil
}
