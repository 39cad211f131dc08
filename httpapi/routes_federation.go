package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
)

// Federation: the routes a paired server calls (signed by the pairing's
// secret, not a session) and the administrator's status probe. See
// docs/api.md, "Federation".

// Headers of a signed request between servers (as the federation package
// sets them).
const (
	headerPeer      = "X-Bitnobi-Peer"
	headerTimestamp = "X-Bitnobi-Timestamp"
	headerNonce     = "X-Bitnobi-Nonce"
	headerSignature = "X-Bitnobi-Signature"
)

// maxPeerProbes is how many peers a remote-server list probes at once.
const maxPeerProbes = 8

func (s *Server) registerFederationRoutes() {
	s.handle("GET /api/remote-servers/{id}/status", true, s.handleRemoteServerStatus)
	s.handle("GET /api/federation/status", false, s.handlePeerStatus)
	s.handle("POST /api/federation/results/{id}", false, s.handlePeerResult)
}

func (s *Server) federation() (bitnobi.FederationService, error) {
	if s.Federation == nil {
		return nil, bitnobi.Errorf(bitnobi.EUNSUPPORTED, "Federation is not set up on this server.")
	}
	return s.Federation, nil
}

// probePeers sets the Status of each remote server, probing them
// concurrently. Without federation it leaves them empty.
func (s *Server) probePeers(ctx context.Context, rs ...*bitnobi.RemoteServer) {
	if s.Federation == nil {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxPeerProbes)
	for _, r := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := s.Federation.PeerStatus(ctx, r.ID)
			if err != nil {
				s.Logger.Warn("probe remote server", "id", r.ID, "err", err)
				st = bitnobi.RemoteOffline
			}
			r.Status = st
		}()
	}
	wg.Wait()
}

func (s *Server) handleRemoteServerStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	f, err := s.federation()
	if err != nil {
		return err
	}
	st, err := f.PeerStatus(r.Context(), id)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, map[string]string{"id": id, "status": st})
	return nil
}

// authenticatePeer checks a peer's signed request and returns the peer
// and the request body (at most MaxBodyBytes).
func (s *Server) authenticatePeer(w http.ResponseWriter, r *http.Request) (*bitnobi.Peer, []byte, error) {
	f, err := s.federation()
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		return nil, nil, decodeError(err, s.MaxBodyBytes)
	}
	req := bitnobi.PeerRequest{
		ServiceID: r.Header.Get(headerPeer),
		Method:    r.Method,
		Path:      r.URL.RequestURI(),
		Body:      body,
		Nonce:     r.Header.Get(headerNonce),
		Signature: r.Header.Get(headerSignature),
	}
	if sec, err := strconv.ParseInt(r.Header.Get(headerTimestamp), 10, 64); err == nil {
		req.Timestamp = time.Unix(sec, 0)
	}
	p, err := f.AuthenticatePeer(r.Context(), req)
	if err != nil {
		return nil, nil, err
	}
	return p, body, nil
}

func (s *Server) handlePeerStatus(w http.ResponseWriter, r *http.Request) error {
	p, _, err := s.authenticatePeer(w, r)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, map[string]string{"status": bitnobi.RemoteOnline, "service_id": p.ServiceID})
	return nil
}

// peerResultRequest is the body of POST /api/federation/results/{id}.
type peerResultRequest struct {
	User bitnobi.RemoteUser `json:"user"`
}

func (s *Server) handlePeerResult(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "id")
	if err != nil {
		return err
	}
	p, body, err := s.authenticatePeer(w, r)
	if err != nil {
		return err
	}
	var in peerResultRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return bitnobi.Errorf(bitnobi.EINVALID, "Malformed JSON: %v.", err)
	}
	run, rc, err := s.Federation.ReadSharedResult(r.Context(), p, in.User, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if err := json.NewEncoder(w).Encode(map[string]any{"columns": run.ResultColumns, "rows": run.ResultRows}); err != nil {
		return nil // the peer went away
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Warn("send result to peer", "peer", p.Name, "workflow_id", id, "err", err)
	}
	return nil
}
