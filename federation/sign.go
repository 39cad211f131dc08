// Package federation connects paired Bitnobi servers: it signs the
// requests one server sends another, checks them on arrival, probes a
// peer's status and fetches the results a peer shares (see docs/api.md,
// "Federation").
//
// Each side of a pairing stores the other as a remote server with the
// same service id and the same password, the pairing's shared secret,
// sealed at rest. A request between servers carries the service id, a
// timestamp, a random nonce and an HMAC-SHA256 over all of them, the
// method, the path and a hash of the body, keyed by the secret. The
// secret itself never travels, so a log of the request, a proxy or a
// plain-http URL does not give it away; the timestamp bounds how long a
// captured request could be replayed, and the nonces seen within that
// window are refused a second time.
package federation

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// Headers of a signed request between servers.
const (
	HeaderPeer      = "X-Bitnobi-Peer"      // the pairing's service id
	HeaderTimestamp = "X-Bitnobi-Timestamp" // Unix seconds
	HeaderNonce     = "X-Bitnobi-Nonce"     // 32 hex digits, new for each request
	HeaderSignature = "X-Bitnobi-Signature" // hex HMAC-SHA256, see [Signature]
)

// MaxSkew is how far a request's timestamp may be from the receiver's
// clock, either way.
const MaxSkew = 5 * time.Minute

// Signature returns the hex HMAC-SHA256, keyed by secret, of a request:
// a version tag, then the service id, method, path (with its query), Unix
// timestamp, nonce and the hex SHA-256 of the body, one per line.
func Signature(secret, serviceID, method, path string, ts time.Time, nonce string, body []byte) string {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(secret))
	for _, s := range []string{"bitnobi-federation-v1", serviceID, method, path, strconv.FormatInt(ts.Unix(), 10), nonce, hex.EncodeToString(bh[:])} {
		m.Write([]byte(s))
		m.Write([]byte{'\n'})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Sign sets the signature headers of r, whose body is body.
func Sign(r *http.Request, serviceID, secret string, now time.Time, body []byte) {
	var n [16]byte
	rand.Read(n[:])
	nonce := hex.EncodeToString(n[:])
	r.Header.Set(HeaderPeer, serviceID)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, Signature(secret, serviceID, r.Method, r.URL.RequestURI(), now, nonce, body))
}
