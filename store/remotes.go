package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/bitnobi/bitnobi"
)

const maxURLLen = 2048

// RemoteServerService implements [bitnobi.RemoteServerService] on the
// database. Passwords are sealed in the secrets table (see [Tx.PutSecret]);
// the remote_servers row holds only the secret's ID.
type RemoteServerService struct {
	DB *DB
}

var _ bitnobi.RemoteServerService = (*RemoteServerService)(nil)

// CreateRemoteServer stores a new peer (administrator only).
func (s *RemoteServerService) CreateRemoteServer(ctx context.Context, in bitnobi.RemoteServerCreate) (*bitnobi.RemoteServer, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	r := &bitnobi.RemoteServer{ID: bitnobi.NewID(), Name: in.Name, URL: strings.TrimSpace(in.URL), ServiceID: in.ServiceID, Enabled: true}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	if err := validRemote(r); err != nil {
		return nil, err
	}
	if err := validText("password", in.Password, false, maxPasswordLen); err != nil {
		return nil, err
	}
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		if err := remoteNameFree(ctx, tx, r.Name, ""); err != nil {
			return err
		}
		var secretID any // NULL when no password
		if in.Password != "" {
			id, err := tx.PutSecret(ctx, "", in.Password)
			if err != nil {
				return err
			}
			secretID, r.PasswordSet = id, true
		}
		r.CreatedAt, r.UpdatedAt = tx.Now(), tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO remote_servers (id, name, url, service_id, secret_id, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Name, r.URL, r.ServiceID, secretID, boolInt(r.Enabled), ts(r.CreatedAt), ts(r.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert remote server: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionRemoteCreate, "remote_server", r.ID, remoteDetail(r, passwordChange(in.Password != "", false, "none")))
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// FindRemoteServers lists all peers by name (administrator only).
func (s *RemoteServerService) FindRemoteServers(ctx context.Context) ([]*bitnobi.RemoteServer, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	var rs []*bitnobi.RemoteServer
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		rs, _, err = queryRemotes(ctx, tx, `ORDER BY name, id`)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// FindRemoteServerByID returns one peer (administrator only).
func (s *RemoteServerService) FindRemoteServerByID(ctx context.Context, id string) (*bitnobi.RemoteServer, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	var r *bitnobi.RemoteServer
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		r, _, err = findRemote(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// UpdateRemoteServer changes a peer (administrator only). A new password
// is sealed under a new secret ID and the old secret removed, so the row
// never points at a missing secret. An update that changes nothing writes
// nothing.
func (s *RemoteServerService) UpdateRemoteServer(ctx context.Context, id string, upd bitnobi.RemoteServerUpdate) (*bitnobi.RemoteServer, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	if upd.Password != nil {
		if err := validText("password", *upd.Password, false, maxPasswordLen); err != nil {
			return nil, err
		}
	}
	var r *bitnobi.RemoteServer
	err := s.DB.WriteTx(ctx, func(tx *Tx) error {
		var oldSecret string
		var err error
		if r, oldSecret, err = findRemote(ctx, tx, id); err != nil {
			return err
		}
		before := *r
		if upd.Name != nil {
			r.Name = *upd.Name
		}
		if upd.URL != nil {
			r.URL = strings.TrimSpace(*upd.URL)
		}
		if upd.ServiceID != nil {
			r.ServiceID = *upd.ServiceID
		}
		if upd.Enabled != nil {
			r.Enabled = *upd.Enabled
		}
		if err := validRemote(r); err != nil {
			return err
		}
		if r.Name != before.Name {
			if err := remoteNameFree(ctx, tx, r.Name, id); err != nil {
				return err
			}
		}
		newSecret := oldSecret
		pwChanged := upd.Password != nil && (*upd.Password != "" || oldSecret != "")
		if pwChanged {
			newSecret = ""
			if *upd.Password != "" {
				if newSecret, err = tx.PutSecret(ctx, "", *upd.Password); err != nil {
					return err
				}
			}
		}
		r.PasswordSet = newSecret != ""
		if *r == before && !pwChanged {
			return nil
		}
		r.UpdatedAt = tx.Now()
		_, err = tx.Exec(ctx, `UPDATE remote_servers SET name = ?, url = ?, service_id = ?, secret_id = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			r.Name, r.URL, r.ServiceID, nullString(newSecret), boolInt(r.Enabled), ts(r.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("update remote server: %w", err)
		}
		if pwChanged {
			if err := tx.DeleteSecret(ctx, oldSecret); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, bitnobi.ActionRemoteUpdate, "remote_server", id, remoteDetail(r, passwordChange(pwChanged && newSecret != "", pwChanged && newSecret == "", "unchanged")))
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteRemoteServer removes a peer and its sealed password
// (administrator only).
func (s *RemoteServerService) DeleteRemoteServer(ctx context.Context, id string) error {
	if _, err := adminActor(ctx); err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		r, secretID, err := findRemote(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM remote_servers WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete remote server: %w", err)
		}
		if err := tx.DeleteSecret(ctx, secretID); err != nil {
			return err
		}
		return tx.Audit(ctx, bitnobi.ActionRemoteDelete, "remote_server", id, map[string]any{"name": r.Name, "url": r.URL})
	})
}

// Password returns the unsealed password of a peer, "" when none is set.
// It is for the code that connects to the peer; it checks no actor, and
// no API calls it.
func (s *RemoteServerService) Password(ctx context.Context, id string) (string, error) {
	var secretID string
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		_, secretID, err = findRemote(ctx, tx, id)
		return err
	})
	if err != nil || secretID == "" {
		return "", err
	}
	return s.DB.RevealSecret(ctx, secretID)
}

func findRemote(ctx context.Context, tx *Tx, id string) (*bitnobi.RemoteServer, string, error) {
	rs, secrets, err := queryRemotes(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return nil, "", err
	} else if len(rs) == 0 {
		return nil, "", bitnobi.Errorf(bitnobi.ENOTFOUND, "Remote server not found.")
	}
	return rs[0], secrets[0], nil
}

// queryRemotes returns the peers selected by where, and beside each its
// secret ID ("" when no password is set).
func queryRemotes(ctx context.Context, tx *Tx, where string, args ...any) ([]*bitnobi.RemoteServer, []string, error) {
	rows, err := tx.Query(ctx, `SELECT id, name, url, service_id, secret_id, enabled, created_at, updated_at FROM remote_servers `+where, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("find remote servers: %w", err)
	}
	defer rows.Close()
	var rs []*bitnobi.RemoteServer
	var secrets []string
	for rows.Next() {
		r := &bitnobi.RemoteServer{}
		var secretID sql.NullString
		var enabled int64
		var created, updated string
		if err := rows.Scan(&r.ID, &r.Name, &r.URL, &r.ServiceID, &secretID, &enabled, &created, &updated); err != nil {
			return nil, nil, fmt.Errorf("find remote servers: %w", err)
		}
		r.PasswordSet = secretID.String != ""
		r.Enabled = enabled != 0
		if r.CreatedAt, err = parseTS(created); err != nil {
			return nil, nil, err
		}
		if r.UpdatedAt, err = parseTS(updated); err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
		secrets = append(secrets, secretID.String)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("find remote servers: %w", err)
	}
	return rs, secrets, nil
}

func remoteNameFree(ctx context.Context, tx *Tx, name, exceptID string) error {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM remote_servers WHERE name = ? AND id <> ?`, name, exceptID).Scan(&n); err != nil {
		return fmt.Errorf("check remote server name: %w", err)
	}
	if n > 0 {
		return &bitnobi.Error{Code: bitnobi.ECONFLICT, Field: "name", Message: fmt.Sprintf("A remote server named %q exists.", name)}
	}
	return nil
}

func validRemote(r *bitnobi.RemoteServer) error {
	if err := validText("name", r.Name, true, maxNameLen); err != nil {
		return err
	}
	if err := validText("service_id", r.ServiceID, true, maxNameLen); err != nil {
		return err
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(r.URL) > maxURLLen {
		return bitnobi.Invalidf("url", "URL must be an http or https URL with a host, such as https://bitnobi.example.org.")
	}
	if u.User != nil {
		return bitnobi.Invalidf("url", "URL must not hold credentials: give them as service_id and password.")
	}
	return nil
}

// passwordChange describes, for the audit log, what happened to a
// password; the password itself is never recorded.
func passwordChange(set, removed bool, otherwise string) string {
	switch {
	case set:
		return "set"
	case removed:
		return "removed"
	}
	return otherwise
}

func remoteDetail(r *bitnobi.RemoteServer, password string) map[string]any {
	return map[string]any{"name": r.Name, "url": r.URL, "service_id": r.ServiceID, "enabled": r.Enabled, "password": password}
}

// nullString stores "" as NULL, for optional references such as secret_id.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
