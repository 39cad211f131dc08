package backup

import (
	"errors"

	"github.com/bitnobi/bitnobi/store"
)

// LocalDB opens the database file a data directory holds (SQLite): the
// one [Create] reads when [CreateOptions].OpenDB is nil, the one
// [Restore] builds in the staging directory when there is no [Target],
// and the one [Verify] with Deep checks after its trial restore. The options'
// Local field sets it; nil means the engine registered with
// [store.RegisterFileEngine] (package sqlite registers itself when linked
// in). Package backup imports no engine package, so that what differs
// between engines lives in the engines.
type LocalDB = store.FileEngine

// errNoLocal is the error of an entry point given neither a database nor
// a [LocalDB], with none registered: a mistake of the program's, not the
// operator's.
var errNoLocal = errors.New("backup: no database engine: set the options' Local (sqlite.Local{}) or link package sqlite in")

// localDB returns local, or else the registered [store.FileEngine].
func localDB(local LocalDB) LocalDB {
	if local != nil {
		return local
	}
	return store.RegisteredFileEngine()
}
