package bitnobi

import (
	"context"
	"time"
)

// RemoteServer is a federation peer: another Bitnobi server, the URL to
// reach it and the service account (ServiceID and a password) to sign in
// with. The password is a secret: it is sealed at rest and no API returns
// it; PasswordSet only says whether one is stored.
type RemoteServer struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	ServiceID   string    `json:"service_id"`
	PasswordSet bool      `json:"password_set"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Status is how the peer answered a probe (RemoteOnline, ...), set by
	// the API's list and get routes; empty where not probed.
	Status string `json:"status,omitempty"`
}

// RemoteServerCreate is the input of [RemoteServerService.CreateRemoteServer].
type RemoteServerCreate struct {
	Name      string `json:"name"`
	URL       string `json:"url"`        // http or https, with a host
	ServiceID string `json:"service_id"` // the account on the remote server
	Password  string `json:"password"`   // "" stores none
	Enabled   *bool  `json:"enabled"`    // nil means true
}

// RemoteServerUpdate holds the fields an update may change; nil means
// unchanged. A Password of "" removes the stored password.
type RemoteServerUpdate struct {
	Name      *string `json:"name"`
	URL       *string `json:"url"`
	ServiceID *string `json:"service_id"`
	Password  *string `json:"password"`
	Enabled   *bool   `json:"enabled"`
}

// RemoteServerService manages federation peers. Every method is for the
// administrator only; the actor comes from the context. No method returns a
// password.
type RemoteServerService interface {
	// CreateRemoteServer stores a new peer.
	// Errors: EINVALID (empty name or service id, bad URL), EFORBIDDEN,
	// ECONFLICT (name taken).
	CreateRemoteServer(ctx context.Context, in RemoteServerCreate) (*RemoteServer, error)
	// FindRemoteServers lists all peers by name. Errors: EFORBIDDEN.
	FindRemoteServers(ctx context.Context) ([]*RemoteServer, error)
	// FindRemoteServerByID returns one peer. Errors: EFORBIDDEN, ENOTFOUND.
	FindRemoteServerByID(ctx context.Context, id string) (*RemoteServer, error)
	// UpdateRemoteServer changes a peer.
	// Errors: EINVALID, EFORBIDDEN, ENOTFOUND, ECONFLICT (name taken).
	UpdateRemoteServer(ctx context.Context, id string, upd RemoteServerUpdate) (*RemoteServer, error)
	// DeleteRemoteServer removes a peer and its password.
	// Errors: EFORBIDDEN, ENOTFOUND.
	DeleteRemoteServer(ctx context.Context, id string) error
}

// EmailSettings is how the server sends e-mail (SMTP). The password is a
// secret: it is sealed at rest and no API returns it; PasswordSet only says
// whether one is stored.
type EmailSettings struct {
	From        string    `json:"from"`
	Host        string    `json:"host"`
	Port        int       `json:"port"`
	User        string    `json:"user"`
	Security    string    `json:"security"` // EmailSTARTTLS, EmailTLS or EmailPlain
	PasswordSet bool      `json:"password_set"`
	Enabled     bool      `json:"enabled"`
	UpdatedAt   time.Time `json:"updated_at"` // zero until first saved
}

// How the server reaches its SMTP server ([EmailSettings.Security]).
const (
	EmailSTARTTLS = "starttls" // plain connection upgraded with STARTTLS; refused if the server cannot
	EmailTLS      = "tls"      // implicit TLS from the first byte (usually port 465)
	EmailPlain    = "none"     // no TLS: for a relay on the same machine only
)

// EmailSettingsUpdate replaces the e-mail settings. Every field but
// Password is replaced; a nil Password keeps the stored one and "" removes
// it.
type EmailSettingsUpdate struct {
	From     string  `json:"from"`
	Host     string  `json:"host"`
	Port     int     `json:"port"`
	User     string  `json:"user"`
	Security string  `json:"security"` // "" means EmailSTARTTLS
	Password *string `json:"password"`
	Enabled  bool    `json:"enabled"`
}

// SettingsService manages the server's settings. Every method is for the
// administrator only; the actor comes from the context.
type SettingsService interface {
	// GetEmailSettings returns the e-mail settings (zero values, not
	// enabled, before they are first saved). Errors: EFORBIDDEN.
	GetEmailSettings(ctx context.Context) (*EmailSettings, error)
	// UpdateEmailSettings replaces the e-mail settings. Enabled settings
	// need From (an address), Host and a Port in 1-65535.
	// Errors: EINVALID, EFORBIDDEN.
	UpdateEmailSettings(ctx context.Context, upd EmailSettingsUpdate) (*EmailSettings, error)
}
