package store

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// Federation: the database side of pairing (the peers and their sealed
// secrets), of serving a peer (ReadResultForPeer) and of the External
// Data Source element (OpenExternal). The HTTP and signing side is the
// federation package's.

var _ workflow.ExternalInput = (*runInputs)(nil)

// Peer returns a remote server with its unsealed secret. It checks no
// actor: it is for the code that contacts the peer, and no API calls it.
// Errors: ENOTFOUND.
func (s *RemoteServerService) Peer(ctx context.Context, id string) (*bitnobi.Peer, error) {
	var p *bitnobi.Peer
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		r, secretID, err := findRemote(ctx, tx, id)
		if err != nil {
			return err
		}
		p = &bitnobi.Peer{RemoteServer: *r}
		if secretID != "" {
			p.Secret = secretID // unsealed below, outside the transaction
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.Secret != "" {
		if p.Secret, err = s.DB.RevealSecret(ctx, p.Secret); err != nil {
			return nil, fmt.Errorf("remote server %s: secret: %w", id, err)
		}
	}
	return p, nil
}

// PeersByServiceID returns the enabled remote servers paired under
// serviceID that have a secret, with their unsealed secrets, for checking
// a peer's signed request. It checks no actor.
func (s *RemoteServerService) PeersByServiceID(ctx context.Context, serviceID string) ([]*bitnobi.Peer, error) {
	var rs []*bitnobi.RemoteServer
	var secrets []string
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		rs, secrets, err = queryRemotes(ctx, tx, `WHERE service_id = ? AND enabled = 1 AND secret_id IS NOT NULL ORDER BY id`, serviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	ps := make([]*bitnobi.Peer, 0, len(rs))
	for i, r := range rs {
		sec, err := s.DB.RevealSecret(ctx, secrets[i])
		if err != nil {
			return nil, fmt.Errorf("remote server %s: secret: %w", r.ID, err)
		}
		ps = append(ps, &bitnobi.Peer{RemoteServer: *r, Secret: sec})
	}
	return ps, nil
}

// ReadResultForPeer opens the latest result of a workflow for an
// authenticated peer, on behalf of user (a user of the peer). The reader
// is an actor of no local account with user's attributes, so that this
// server's own policies decide (findWorkflow), the lineage rules apply,
// and only the workflow's exportable columns are returned: a workflow
// that names none shares nothing with peers. The access is audited with
// the remote user as remote_user and the peer's host as remote_addr: this
// is the only place a remote user is recorded.
func (s *WorkflowService) ReadResultForPeer(ctx context.Context, peer *bitnobi.Peer, user bitnobi.RemoteUser, workflowID string) (*bitnobi.WorkflowRun, io.ReadCloser, error) {
	if user.Username == "" {
		return nil, nil, bitnobi.Invalidf("username", "The remote user's username is required.")
	}
	host := peer.URL
	if u, err := url.Parse(peer.URL); err == nil {
		host = u.Host
	}
	a := &bitnobi.Actor{Username: "peer:" + peer.Name, Attributes: user.Attributes, RemoteAddr: host, RemoteUser: user.Username}
	ctx = bitnobi.NewContextWithActor(ctx, a)
	var exportables []string
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		w, _, err := findWorkflow(ctx, tx, a, workflowID, wfAccessResult)
		if err != nil {
			return err
		}
		exportables = w.Exportables
		if len(exportables) == 0 {
			return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Workflow %q names no exportable columns, so none of its result may leave this server: its owner names them in the workflow's exportables.", w.Name)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	run, rc, err := s.openResult(ctx, a, workflowID, "", nil)
	if err != nil {
		return nil, nil, err
	}
	// The exportables may have changed since they were read: refuse
	// rather than let a column out that is no longer exportable.
	for _, c := range run.ResultColumns {
		if !slices.Contains(exportables, c) {
			rc.Close()
			return nil, nil, bitnobi.Errorf(bitnobi.ECONFLICT, "The workflow's exportable columns changed during the request: try again.")
		}
	}
	return run, rc, nil
}

// OpenExternal fetches a remote result for an External Data Source
// element, on behalf of the run's reader (the workflow's owner): their
// username and attributes are sent, and the peer decides. A disabled
// remote server (an administrator's choice, or a restore --as-copy) is
// never contacted. The fetch is audited here as a data-source access.
func (in *runInputs) OpenExternal(ctx context.Context, c bitnobi.ExternalConfig) (workflow.Rows, error) {
	if in.s.Remote == nil {
		return nil, bitnobi.Errorf(bitnobi.EUNSUPPORTED, "External Data Source elements are not available on this server (federation is not set up).")
	}
	remotes := &RemoteServerService{DB: in.s.DB}
	peer, err := remotes.Peer(ctx, c.RemoteServerID)
	if err != nil {
		return nil, err
	}
	if !peer.Enabled {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Remote server %q is disabled (by an administrator, or because this server is a restored copy): an administrator enables it in the remote servers.", peer.Name)
	}
	if peer.Secret == "" {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Remote server %q has no shared secret: an administrator sets the pairing's password.", peer.Name)
	}
	err = in.s.DB.WriteTx(ctx, func(tx *Tx) error {
		detail := map[string]any{"remote_server": peer.Name, "url": peer.URL, "workflow_id": c.WorkflowID}
		if in.reader.UserID != bitnobi.ActorFromContext(ctx).UserID {
			detail["read_as"] = in.reader.UserID
		}
		return tx.Audit(ctx, bitnobi.ActionDataSourceAccess, "remote_server", peer.ID, detail)
	})
	if err != nil {
		return nil, err
	}
	return in.s.Remote.FetchResult(ctx, peer, c.WorkflowID, bitnobi.RemoteUser{Username: in.reader.Username, Attributes: in.reader.Attributes})
}
