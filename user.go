package bitnobi

import (
	"context"
	"time"
)

// User is a person with an account. The first user to sign up becomes the
// administrator; only the administrator sets attributes.
type User struct {
	ID         string            `json:"id"`
	Username   string            `json:"username"`
	Email      string            `json:"email"`
	IsAdmin    bool              `json:"is_admin"`
	Attributes map[string]string `json:"attributes"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// Session is a signed-in user's bearer token. Only a hash of the token is
// stored; backups do not carry sessions (see docs/backup-format.md).
type Session struct {
	Token     string    `json:"token"` // set only when the session is created
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Actor is who performs an action: the signed-in user (nil ID for an
// anonymous caller such as sign-up) and where the request came from. Every
// service method that changes state takes one, so that the audit entry it
// writes names who did it.
type Actor struct {
	UserID     string
	Username   string
	IsAdmin    bool
	Attributes map[string]string
	RemoteAddr string
	RemoteUser string // for federated access: the user on the remote server
}

type actorKey struct{}

// NewContextWithActor returns a copy of ctx carrying a.
func NewContextWithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor carried by ctx, or an anonymous actor.
func ActorFromContext(ctx context.Context) *Actor {
	if a, ok := ctx.Value(actorKey{}).(*Actor); ok && a != nil {
		return a
	}
	return &Actor{}
}

// UserUpdate holds the fields an update may change; nil means unchanged.
// Only an administrator may change Attributes and IsAdmin.
type UserUpdate struct {
	Email      *string            `json:"email"`
	Password   *string            `json:"password"`
	IsAdmin    *bool              `json:"is_admin"`
	Attributes *map[string]string `json:"attributes"`
	// CurrentPassword is required, and checked, when users change their
	// own Email or Password. It is not needed for an administrator's
	// reset of another user's password.
	CurrentPassword *string `json:"current_password"`
}

// UserService manages accounts and sessions.
type UserService interface {
	// SignUp creates an account; the first account becomes the administrator.
	// Usernames are unique regardless of case.
	// Errors: EINVALID, ECONFLICT (username taken).
	SignUp(ctx context.Context, username, email, password string) (*User, error)
	// SignIn checks the password and opens a session. Failed sign-ins are
	// throttled per account and per remote address (the actor's
	// RemoteAddr), with waits that grow to a few minutes at most.
	// Errors: EUNAUTHORIZED, ETOOMANY (wait [Error.RetryAfter]).
	SignIn(ctx context.Context, username, password string) (*Session, *User, error)
	// SignOut ends the session of token. Errors: EUNAUTHORIZED.
	SignOut(ctx context.Context, token string) error
	// Authenticate returns the user of a valid token: its session has
	// neither passed its absolute lifetime nor been idle for longer than
	// the idle timeout. Errors: EUNAUTHORIZED.
	Authenticate(ctx context.Context, token string) (*User, error)
	// SignOutAll ends every session of a user (the user themself, or the
	// administrator for anyone) and returns how many ended.
	// Errors: ENOTFOUND, EFORBIDDEN.
	SignOutAll(ctx context.Context, userID string) (int64, error)
	// FindUsers lists all users (administrator only). Errors: EFORBIDDEN.
	FindUsers(ctx context.Context) ([]*User, error)
	// FindUserByID returns a user; administrators see anyone, others only
	// themselves. Errors: ENOTFOUND, EFORBIDDEN.
	FindUserByID(ctx context.Context, id string) (*User, error)
	// UpdateUser changes a user: users may change their own e-mail and
	// password, giving CurrentPassword; the administrator anything of
	// anyone (a reset of another user's password is audited as
	// [ActionUserPasswordReset] and ends that user's sessions).
	// Errors: EINVALID (also a missing or wrong current_password),
	// ENOTFOUND, EFORBIDDEN, ECONFLICT (demoting the last administrator),
	// ETOOMANY (too many wrong current passwords).
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)
	// DeleteUser removes a user (administrator only) and everything they own.
	// Errors: ENOTFOUND, EFORBIDDEN, ECONFLICT (the last administrator).
	DeleteUser(ctx context.Context, id string) error
}
