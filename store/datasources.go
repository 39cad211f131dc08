package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
)

// maxSQLPasswordLen caps a SQL data source's password.
const maxSQLPasswordLen = 1024

// DataSourceService implements [bitnobi.DataSourceService] on the
// database: file content in DB.Blobs, SQL passwords sealed with DB.Key.
type DataSourceService struct {
	DB *DB
}

var _ bitnobi.DataSourceService = (*DataSourceService)(nil)

// CreateFileDataSource streams r into the blob store, then records the blob
// and the data source in one transaction. The input is checked before the
// upload is read, so a bad name or format costs no I/O.
func (s *DataSourceService) CreateFileDataSource(ctx context.Context, ds *bitnobi.DataSource, r io.Reader, limit int64) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	q := bitnobi.DataSource{
		OwnerID:     a.UserID,
		Name:        ds.Name,
		Description: ds.Description,
		Kind:        bitnobi.DataSourceFile,
		Format:      ds.Format,
		Filename:    ds.Filename,
	}
	if err := q.Validate(); err != nil {
		return err
	}
	id, size, err := s.DB.Blobs.Put(ctx, r, limit)
	if errors.Is(err, blob.ErrTooLarge) {
		return bitnobi.Errorf(bitnobi.ETOOLARGE, "The file is over the upload limit of %d bytes.", limit)
	} else if err != nil {
		return fmt.Errorf("upload data source: %w", err)
	}
	q.ID, q.BlobID, q.Size = bitnobi.NewID(), id, size
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		q.CreatedAt, q.UpdatedAt = tx.Now(), tx.Now()
		if err := tx.putBlobRow(ctx, id, size); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO datasources (id, owner_id, name, description, kind, format, filename, blob_id, size, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			q.ID, q.OwnerID, q.Name, q.Description, q.Kind, q.Format, q.Filename, q.BlobID, q.Size, ts(q.CreatedAt), ts(q.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert data source: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionDataSourceCreate, "datasource", q.ID, dataSourceDetail(&q))
	})
	if err != nil {
		return err
	}
	*ds = q
	return nil
}

// putBlobRow records, within tx, that blob id of size bytes is referred to
// (keeping the row if it is there), and checks that the file is still
// stored. The blob collector removes a file only in a write transaction
// that finds no row for it, so once this transaction commits the file is
// safe; if the collector removed it just before (the same content
// uploaded long ago and since unreferenced), this fails instead of
// recording a reference to nothing.
func (tx *Tx) putBlobRow(ctx context.Context, id string, size int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, size, ts(tx.Now()))
	if err != nil {
		return fmt.Errorf("record blob %s: %w", id, err)
	}
	if _, err := tx.db.Blobs.Stat(id); err != nil {
		return fmt.Errorf("record blob %s: %w", id, err)
	}
	return nil
}

// CreateSQLDataSource records a SQL data source, sealing its password.
func (s *DataSourceService) CreateSQLDataSource(ctx context.Context, ds *bitnobi.DataSource, password string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	q := bitnobi.DataSource{
		ID:          bitnobi.NewID(),
		OwnerID:     a.UserID,
		Name:        ds.Name,
		Description: ds.Description,
		Kind:        bitnobi.DataSourceSQL,
		Driver:      ds.Driver,
		Host:        ds.Host,
		Port:        ds.Port,
		Database:    ds.Database,
		User:        ds.User,
		Query:       ds.Query,
		PasswordSet: password != "",
	}
	if err := q.Validate(); err != nil {
		return err
	}
	if len(password) > maxSQLPasswordLen {
		return bitnobi.Invalidf("password", "Password must be at most %d bytes.", maxSQLPasswordLen)
	}
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		q.CreatedAt, q.UpdatedAt = tx.Now(), tx.Now()
		var secretID any // NULL when there is no password
		if password != "" {
			id, err := tx.PutSecret(ctx, "", password)
			if err != nil {
				return err
			}
			secretID = id
		}
		_, err := tx.Exec(ctx, `INSERT INTO datasources (id, owner_id, name, description, kind, sql_driver, sql_host, sql_port, sql_database, sql_user, sql_query, secret_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			q.ID, q.OwnerID, q.Name, q.Description, q.Kind, q.Driver, q.Host, q.Port, q.Database, q.User, q.Query, secretID, ts(q.CreatedAt), ts(q.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert data source: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionDataSourceCreate, "datasource", q.ID, dataSourceDetail(&q))
	})
	if err != nil {
		return err
	}
	*ds = q
	return nil
}

// FindDataSources lists the actor's data sources, all for the
// administrator, oldest first.
func (s *DataSourceService) FindDataSources(ctx context.Context) ([]*bitnobi.DataSource, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var out []*bitnobi.DataSource
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		var rows []dataSourceRow
		var err error
		if a.IsAdmin {
			rows, err = queryDataSources(ctx, tx, `ORDER BY created_at, id`)
		} else {
			rows, err = queryDataSources(ctx, tx, `WHERE owner_id = ? ORDER BY created_at, id`, a.UserID)
		}
		out = make([]*bitnobi.DataSource, len(rows))
		for i, r := range rows {
			out[i] = r.ds
		}
		return err
	})
	return out, err
}

// FindDataSourceByID returns a data source the actor may see.
func (s *DataSourceService) FindDataSourceByID(ctx context.Context, id string) (*bitnobi.DataSource, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var r dataSourceRow
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		r, err = findDataSource(ctx, tx, a, id)
		return err
	})
	return r.ds, err
}

// OpenDataSource opens a file data source's content and audits the access,
// in one transaction: the access is recorded only if the file opened.
func (s *DataSourceService) OpenDataSource(ctx context.Context, id string) (io.ReadCloser, *bitnobi.DataSource, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.openDataSource(ctx, a, id)
}

// openDataSource opens a data source that reader may read, and audits the
// access as done by the actor of ctx; when the two differ (a run started
// by someone other than the workflow's owner), the entry's detail names
// the reader as "read_as".
func (s *DataSourceService) openDataSource(ctx context.Context, reader *bitnobi.Actor, id string) (io.ReadCloser, *bitnobi.DataSource, error) {
	var r dataSourceRow
	var rc io.ReadCloser
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		var err error
		if r, err = findDataSource(ctx, tx, reader, id); err != nil {
			return err
		}
		if r.ds.Kind != bitnobi.DataSourceFile {
			return bitnobi.Errorf(bitnobi.EUNSUPPORTED, "Data source %q is a query on a SQL database: downloading it or reading it with an Importer is not supported; a workflow reads it with a SQL element.", r.ds.Name)
		}
		f, err := s.DB.Blobs.Open(r.ds.BlobID)
		if err != nil {
			return fmt.Errorf("open data source %s: %w", id, err)
		}
		detail := map[string]any{"name": r.ds.Name, "owner_id": r.ds.OwnerID}
		if reader.UserID != bitnobi.ActorFromContext(ctx).UserID {
			detail["read_as"] = reader.UserID
		}
		if err := tx.Audit(ctx, bitnobi.ActionDataSourceAccess, "datasource", id, detail); err != nil {
			f.Close()
			return err
		}
		rc = f
		return nil
	})
	if err != nil {
		if rc != nil {
			rc.Close() // the commit failed
		}
		return nil, nil, err
	}
	return rc, r.ds, nil
}

// UpdateDataSource changes a data source's name, description and, for a
// SQL one, its connection and password.
func (s *DataSourceService) UpdateDataSource(ctx context.Context, id string, upd bitnobi.DataSourceUpdate) (*bitnobi.DataSource, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	if upd.Password != nil && len(*upd.Password) > maxSQLPasswordLen {
		return nil, bitnobi.Invalidf("password", "Password must be at most %d bytes.", maxSQLPasswordLen)
	}
	var ds *bitnobi.DataSource
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		r, err := findDataSource(ctx, tx, a, id)
		if err != nil {
			return err
		}
		ds = r.ds
		var changed []string
		setString := func(field string, dst *string, v *string) {
			if v != nil && *v != *dst {
				*dst = *v
				changed = append(changed, field)
			}
		}
		setString("name", &ds.Name, upd.Name)
		setString("description", &ds.Description, upd.Description)
		sqlFields := map[string]bool{"driver": upd.Driver != nil, "host": upd.Host != nil, "port": upd.Port != nil,
			"database": upd.Database != nil, "user": upd.User != nil, "query": upd.Query != nil, "password": upd.Password != nil}
		if ds.Kind != bitnobi.DataSourceSQL {
			for _, f := range []string{"driver", "host", "port", "database", "user", "query", "password"} {
				if sqlFields[f] {
					return bitnobi.Invalidf(f, "Only a SQL data source has a %s; a file's content never changes.", f)
				}
			}
		}
		setString("driver", &ds.Driver, upd.Driver)
		setString("host", &ds.Host, upd.Host)
		if upd.Port != nil && *upd.Port != ds.Port {
			ds.Port = *upd.Port
			changed = append(changed, "port")
		}
		setString("database", &ds.Database, upd.Database)
		setString("user", &ds.User, upd.User)
		setString("query", &ds.Query, upd.Query)
		if err := ds.Validate(); err != nil {
			return err
		}
		secretID := r.secretID
		detail := map[string]any{"name": ds.Name}
		if upd.Password != nil {
			switch {
			case *upd.Password != "":
				// A new secret, not one replaced in place: the row
				// refers to the old one until it is updated below.
				if secretID, err = tx.PutSecret(ctx, "", *upd.Password); err != nil {
					return err
				}
				detail["password"] = "set"
				changed = append(changed, "password")
			case secretID != "":
				secretID = ""
				detail["password"] = "removed"
				changed = append(changed, "password")
			}
		}
		ds.PasswordSet = secretID != ""
		if len(changed) == 0 {
			return nil // nothing changes: nothing to write or audit
		}
		ds.UpdatedAt = tx.Now()
		_, err = tx.Exec(ctx, `UPDATE datasources SET name = ?, description = ?, sql_driver = ?, sql_host = ?, sql_port = ?, sql_database = ?, sql_user = ?, sql_query = ?, secret_id = ?, updated_at = ? WHERE id = ?`,
			ds.Name, ds.Description, ds.Driver, ds.Host, ds.Port, ds.Database, ds.User, ds.Query, nullString(secretID), ts(ds.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("update data source: %w", err)
		}
		if secretID != r.secretID {
			if err := tx.DeleteSecret(ctx, r.secretID); err != nil {
				return err
			}
		}
		detail["changed"] = changed
		return tx.Audit(ctx, bitnobi.ActionDataSourceUpdate, "datasource", id, detail)
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// DeleteDataSource removes a data source's row and its password. The file
// stays in the blob store: the blob collector removes it once no record
// refers to it (and no backup needs it).
func (s *DataSourceService) DeleteDataSource(ctx context.Context, id string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		r, err := findDataSource(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM datasources WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete data source: %w", err)
		}
		if err := tx.DeleteSecret(ctx, r.secretID); err != nil {
			return err
		}
		return tx.Audit(ctx, bitnobi.ActionDataSourceDelete, "datasource", id, map[string]any{"name": r.ds.Name, "kind": r.ds.Kind, "owner_id": r.ds.OwnerID})
	})
}

// dataSourceRow is a data source with the ID of its sealed password.
type dataSourceRow struct {
	ds       *bitnobi.DataSource
	secretID string
}

// findDataSource returns a data source a may see (their own, or any for the
// administrator), and ENOTFOUND otherwise, so that others' data sources
// are not revealed.
func findDataSource(ctx context.Context, tx *Tx, a *bitnobi.Actor, id string) (dataSourceRow, error) {
	rows, err := queryDataSources(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return dataSourceRow{}, err
	}
	if len(rows) == 0 || !(a.IsAdmin || rows[0].ds.OwnerID == a.UserID) {
		return dataSourceRow{}, bitnobi.Errorf(bitnobi.ENOTFOUND, "Data source not found.")
	}
	return rows[0], nil
}

// queryDataSources returns the data sources selected by where (a WHERE
// and/or ORDER BY clause on datasources).
func queryDataSources(ctx context.Context, tx *Tx, where string, args ...any) ([]dataSourceRow, error) {
	rows, err := tx.Query(ctx, `SELECT id, owner_id, name, description, kind, format, filename, blob_id, size,
		sql_driver, sql_host, sql_port, sql_database, sql_user, sql_query, secret_id, created_at, updated_at FROM datasources `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find data sources: %w", err)
	}
	defer rows.Close()
	var out []dataSourceRow
	for rows.Next() {
		ds := &bitnobi.DataSource{}
		var blobID, secretID sql.NullString
		var created, updated string
		if err := rows.Scan(&ds.ID, &ds.OwnerID, &ds.Name, &ds.Description, &ds.Kind, &ds.Format, &ds.Filename, &blobID, &ds.Size,
			&ds.Driver, &ds.Host, &ds.Port, &ds.Database, &ds.User, &ds.Query, &secretID, &created, &updated); err != nil {
			return nil, fmt.Errorf("find data sources: %w", err)
		}
		ds.BlobID = blobID.String
		ds.PasswordSet = secretID.Valid
		if ds.CreatedAt, err = parseTS(created); err != nil {
			return nil, err
		}
		if ds.UpdatedAt, err = parseTS(updated); err != nil {
			return nil, err
		}
		out = append(out, dataSourceRow{ds: ds, secretID: secretID.String})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find data sources: %w", err)
	}
	return out, nil
}

// dataSourceDetail is what the audit log records of a new data source:
// never its password.
func dataSourceDetail(ds *bitnobi.DataSource) map[string]any {
	d := map[string]any{"name": ds.Name, "kind": ds.Kind}
	if ds.Kind == bitnobi.DataSourceFile {
		d["format"], d["filename"], d["size"], d["blob_id"] = ds.Format, ds.Filename, ds.Size, ds.BlobID
	} else {
		d["driver"], d["host"], d["port"], d["database"], d["user"] = ds.Driver, ds.Host, ds.Port, ds.Database, ds.User
		d["password_set"] = ds.PasswordSet
		d["query"] = shorten(ds.Query, 500)
	}
	return d
}

// shorten cuts s to at most n bytes on a character boundary, marking the
// cut, so that audit entries stay small.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
