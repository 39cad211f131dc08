package federation

import (
	"context"
	"crypto/hmac"
	"io"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
)

// Peers finds paired servers with their secrets (store.RemoteServerService).
type Peers interface {
	// Peer returns a remote server by ID. Errors: ENOTFOUND.
	Peer(ctx context.Context, id string) (*bitnobi.Peer, error)
	// PeersByServiceID returns the enabled remote servers with a secret
	// paired under serviceID.
	PeersByServiceID(ctx context.Context, serviceID string) ([]*bitnobi.Peer, error)
}

// Results opens results for peers (store.WorkflowService).
type Results interface {
	// ReadResultForPeer: see [bitnobi.FederationService.ReadSharedResult].
	ReadResultForPeer(ctx context.Context, peer *bitnobi.Peer, user bitnobi.RemoteUser, workflowID string) (*bitnobi.WorkflowRun, io.ReadCloser, error)
}

// Service implements [bitnobi.FederationService].
type Service struct {
	Peers   Peers
	Results Results
	Client  *Client
	// Now is the clock timestamps are checked against (nil: time.Now).
	Now func() time.Time

	mu     sync.Mutex
	seen   map[string]time.Time // nonces accepted within MaxSkew, and when they expire
	pruned time.Time            // when seen was last swept of expired nonces
}

var _ bitnobi.FederationService = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// PeerStatus probes a peer (administrator only). A disabled peer is not
// contacted.
func (s *Service) PeerStatus(ctx context.Context, remoteID string) (string, error) {
	if !bitnobi.ActorFromContext(ctx).IsAdmin {
		return "", bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only an administrator may check remote servers.")
	}
	p, err := s.Peers.Peer(ctx, remoteID)
	if err != nil {
		return "", err
	}
	if !p.Enabled {
		return bitnobi.RemoteDisabled, nil
	}
	if p.Secret == "" {
		return bitnobi.RemoteForbidden, nil // nothing to sign with: the peer would refuse
	}
	return s.Client.Status(ctx, p), nil
}

func errPeer(format string, args ...any) error {
	return bitnobi.Errorf(bitnobi.EUNAUTHORIZED, format, args...)
}

// AuthenticatePeer checks a signed request against every enabled pairing
// of its service id.
func (s *Service) AuthenticatePeer(ctx context.Context, req bitnobi.PeerRequest) (*bitnobi.Peer, error) {
	if req.ServiceID == "" || req.Signature == "" || req.Nonce == "" || req.Timestamp.IsZero() {
		return nil, errPeer("Not a signed request between servers: %s, %s, %s and %s are required.", HeaderPeer, HeaderTimestamp, HeaderNonce, HeaderSignature)
	}
	now := s.now()
	if d := now.Sub(req.Timestamp); d > MaxSkew || d < -MaxSkew {
		return nil, errPeer("The request's timestamp is %s away from this server's clock (at most %s is accepted): check both servers' clocks.", d.Round(time.Second), MaxSkew)
	}
	peers, err := s.Peers.PeersByServiceID(ctx, req.ServiceID)
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		want := Signature(p.Secret, req.ServiceID, req.Method, req.Path, req.Timestamp, req.Nonce, req.Body)
		if !hmac.Equal([]byte(want), []byte(req.Signature)) {
			continue
		}
		if !s.firstUse(req.ServiceID+"\n"+req.Nonce, now) {
			return nil, errPeer("This request was sent before (nonce reused): a replay is refused.")
		}
		return p, nil
	}
	return nil, errPeer("This server has no enabled pairing %q with that secret: the pairing was revoked or disabled, or the two sides hold different secrets.", req.ServiceID)
}

// firstUse records a nonce and reports whether it was new. Nonces are
// forgotten once their timestamps would be refused anyway.
func (s *Service) firstUse(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	// Sweep at most once a minute, so that a busy peer's requests do not
	// each walk every nonce.
	if now.Sub(s.pruned) > time.Minute {
		for k, exp := range s.seen {
			if now.After(exp) {
				delete(s.seen, k)
			}
		}
		s.pruned = now
	}
	if _, ok := s.seen[key]; ok {
		return false
	}
	s.seen[key] = now.Add(2 * MaxSkew)
	return true
}

// ReadSharedResult opens a result for an authenticated peer.
func (s *Service) ReadSharedResult(ctx context.Context, peer *bitnobi.Peer, user bitnobi.RemoteUser, workflowID string) (*bitnobi.WorkflowRun, io.ReadCloser, error) {
	return s.Results.ReadResultForPeer(ctx, peer, user, workflowID)
}
