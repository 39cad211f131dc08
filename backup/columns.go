package backup

import (
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// formatColumns returns a table's columns, as the database lists them, in
// the form the manifest records them.
func formatColumns(cols []store.Column) []format.Column {
	out := make([]format.Column, len(cols))
	for i, c := range cols {
		out[i] = format.Column{Name: c.Name, Type: c.Type}
	}
	return out
}

// storeColumns returns the columns a manifest records in the form the
// database lists them.
func storeColumns(cols []format.Column) []store.Column {
	out := make([]store.Column, len(cols))
	for i, c := range cols {
		out[i] = store.Column{Name: c.Name, Type: c.Type}
	}
	return out
}
