package bitnobi

import (
	"context"
	"io"
	"time"
)

// Statuses of a federation peer, as this server sees it
// ([FederationService.PeerStatus], [RemoteServer.Status]).
const (
	RemoteOnline    = "online"    // the peer answered and accepted this server's signature
	RemoteOffline   = "offline"   // the peer did not answer, or answered with an error of its own
	RemoteForbidden = "forbidden" // the peer answered but refused this server (pairing revoked or disabled there, or a different secret)
	RemoteDisabled  = "disabled"  // disabled here (or by a restore --as-copy): never contacted
)

// ElementExternal is the External Data Source element: the latest result
// of a workflow that a paired remote server shares; config [ExternalConfig].
const ElementExternal = "external"

// ExternalConfig is the config of an External Data Source element.
type ExternalConfig struct {
	RemoteServerID string `json:"remote_server_id"` // a remote server of this server
	WorkflowID     string `json:"workflow_id"`      // the workflow on the remote server
}

// RemoteUser is the user a peer asks on behalf of: their username and
// attributes on the peer. The serving server matches its own policies
// against these attributes.
type RemoteUser struct {
	Username   string            `json:"username"`
	Attributes map[string]string `json:"attributes"`
}

// Peer is a remote server with its unsealed shared secret: what the code
// that signs or checks requests between servers needs. No API returns it.
type Peer struct {
	RemoteServer
	Secret string
}

// FederationService connects this server with its paired peers. The
// actor comes from the context.
type FederationService interface {
	// PeerStatus probes a peer: one of [RemoteOnline], [RemoteOffline],
	// [RemoteForbidden] or [RemoteDisabled]. For the administrator only.
	// Errors: EFORBIDDEN, ENOTFOUND.
	PeerStatus(ctx context.Context, remoteID string) (string, error)
	// AuthenticatePeer checks a signed request from a peer and returns
	// the peer. Errors: EUNAUTHORIZED (unknown or disabled service id,
	// bad signature, a timestamp too far from now, a replayed request).
	AuthenticatePeer(ctx context.Context, req PeerRequest) (*Peer, error)
	// ReadSharedResult opens, for an authenticated peer, the latest result
	// of a workflow of this server on behalf of user: this server's
	// policies decide on user's attributes, only exportable columns are
	// returned, and the access is audited with the remote user and peer.
	// Errors: ENOTFOUND (no such workflow, or not shared with user),
	// EFORBIDDEN, ECONFLICT (no successful run yet).
	ReadSharedResult(ctx context.Context, peer *Peer, user RemoteUser, workflowID string) (*WorkflowRun, io.ReadCloser, error)
}

// PeerRequest is what a peer's signed request carries, for
// [FederationService.AuthenticatePeer].
type PeerRequest struct {
	ServiceID string    // the pairing's service id
	Method    string    // the HTTP method
	Path      string    // the request path, with its query
	Body      []byte    // the request body
	Timestamp time.Time // when the peer signed it
	Nonce     string    // unique per request
	Signature string    // hex HMAC-SHA256; see the federation package
}
