package backup

import (
	"context"
	"errors"

	"github.com/bitnobi/bitnobi/store"
)

// LocalDB opens the database file a data directory holds (SQLite): the
// one [Create] reads when [CreateOptions].OpenDB is nil, the one
// [Restore] builds in the staging directory when there is no [Target],
// and the one [VerifyDeep] checks after its trial restore. Package sqlite
// provides it (sqlite.Local); package backup imports no engine package,
// so that what differs between engines lives in the engines.
type LocalDB interface {
	// OpenNoMigrate opens the database file at path as it is.
	OpenNoMigrate(ctx context.Context, path string) (*store.DB, error)
	// OpenStaging opens a new database file at path that is built in one
	// go and thrown away unless complete: it may skip fsyncs until
	// FinishStaging.
	OpenStaging(ctx context.Context, path string) (*store.DB, error)
	// FinishStaging puts the closed staging database at path in the mode
	// a server opens it in, and leaves it closed.
	FinishStaging(ctx context.Context, path string) error
}

// errNoLocal is the error of an entry point given neither a database nor
// a [LocalDB]: a mistake of the caller's, not the operator's.
var errNoLocal = errors.New("backup: no database engine given: set the options' Local (sqlite.Local{}) or a database")
