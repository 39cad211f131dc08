package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bitnobi/bitnobi"
)

// Limits on account input. They are documented in docs/api.md.
const (
	minUsernameLen    = 3
	maxUsernameLen    = 64
	maxEmailLen       = 254
	minPasswordLen    = 8
	maxPasswordLen    = 1024
	maxAttributes     = 50
	maxAttrKeyLen     = 64
	maxAttrValueLen   = 256
	maxNameLen        = 200
	maxDescriptionLen = 4000
)

// UserService implements [bitnobi.UserService] on the database.
type UserService struct {
	DB *DB
	// Password holds the argon2id parameters of new password hashes; the
	// zero value means [DefaultPasswordParams].
	Password PasswordParams
	// Limits sets the sign-in throttle; the zero value means
	// [DefaultSignInLimits].
	Limits SignInLimits

	throttle throttle
}

var _ bitnobi.UserService = (*UserService)(nil)

func (s *UserService) limits() SignInLimits {
	if s.Limits == (SignInLimits{}) {
		return DefaultSignInLimits
	}
	return s.Limits
}

func (s *UserService) params() PasswordParams {
	if s.Password == (PasswordParams{}) {
		return DefaultPasswordParams
	}
	return s.Password
}

// SignUp creates an account. Whether it is the first, and so the
// administrator, is decided inside the write transaction, after taking the
// dialect's audit lock: on SQLite the single writer serialises sign-ups
// anyway, and on engines with concurrent writers the lock does, so two
// first sign-ups cannot both see an empty table.
func (s *UserService) SignUp(ctx context.Context, username, email, password string) (*bitnobi.User, error) {
	email = strings.TrimSpace(email)
	if err := validUsername(username); err != nil {
		return nil, err
	}
	if err := validEmail(email); err != nil {
		return nil, err
	}
	if err := validPassword(password); err != nil {
		return nil, err
	}
	// Hash before the transaction: argon2 is slow on purpose, and the
	// write lock should not wait for it.
	hash, err := hashPassword(password, s.params())
	if err != nil {
		return nil, err
	}
	u := &bitnobi.User{ID: bitnobi.NewID(), Username: username, Email: email, Attributes: map[string]string{}}
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		if err := tx.db.Dialect.LockAudit(ctx, tx.Tx); err != nil {
			return fmt.Errorf("lock for sign-up: %w", err)
		}
		if taken, err := usernameTaken(ctx, tx, username); err != nil {
			return err
		} else if taken {
			return &bitnobi.Error{Code: bitnobi.ECONFLICT, Field: "username", Message: fmt.Sprintf("The username %q is taken.", username)}
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return fmt.Errorf("count users: %w", err)
		}
		u.IsAdmin = n == 0
		u.CreatedAt, u.UpdatedAt = tx.Now(), tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO users (id, username, email, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.Email, hash, boolInt(u.IsAdmin), ts(u.CreatedAt), ts(u.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		// The new user is the actor of their own sign-up.
		return tx.Audit(asUser(ctx, u), bitnobi.ActionSignUp, "user", u.ID, map[string]any{"username": u.Username, "is_admin": u.IsAdmin})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SignIn checks the password and opens a session. A failed sign-in writes
// nothing, not even an audit entry. The token is 32 random bytes; only its
// SHA-256 is stored, so the sessions table alone signs nobody in.
//
// Failed sign-ins are throttled per account and per remote address (the
// actor's RemoteAddr), as [SignInLimits] describes: while one must wait,
// SignIn fails with ETOOMANY, whose [bitnobi.Error.RetryAfter] says how
// long, without checking the password. The throttle is here rather than in
// an HTTP handler so that every way of signing in shares it.
func (s *UserService) SignIn(ctx context.Context, username, password string) (*bitnobi.Session, *bitnobi.User, error) {
	denied := bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "Wrong username or password.")
	if len(username) > maxUsernameLen || len(password) > maxPasswordLen {
		return nil, nil, denied
	}
	lim := s.limits()
	keys, free := []string{accountKey(username)}, []int{lim.Free}
	if addr := bitnobi.ActorFromContext(ctx).RemoteAddr; addr != "" {
		keys, free = append(keys, addressKey(addr)), append(free, lim.FreeAddress)
	}
	if wait := s.throttle.wait(s.DB.now(), lim, keys...); wait > 0 {
		return nil, nil, tooManyAttempts(wait)
	}
	sess, u, err := s.signIn(ctx, username, password, denied)
	if bitnobi.ErrorCode(err) == bitnobi.EUNAUTHORIZED {
		s.throttle.fail(s.DB.now(), lim, keys, free)
	} else if err == nil {
		s.throttle.reset(keys[0])
	}
	return sess, u, err
}

// signIn is SignIn without the throttle.
func (s *UserService) signIn(ctx context.Context, username, password string, denied error) (*bitnobi.Session, *bitnobi.User, error) {
	var id, hash string
	err := s.DB.Read.QueryRowContext(ctx, s.DB.Dialect.Rebind(`SELECT id, password_hash FROM users WHERE lower(username) = lower(?)`), username).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Spend the same time as for a real user, so that timing does not
		// tell which usernames exist.
		_, _ = hashPassword(password, s.params())
		return nil, nil, denied
	} else if err != nil {
		return nil, nil, fmt.Errorf("find user: %w", err)
	}
	ok, err := checkPassword(password, hash)
	if err != nil {
		return nil, nil, fmt.Errorf("check password of user %s: %w", id, err)
	} else if !ok {
		return nil, nil, denied
	}

	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, nil, fmt.Errorf("make session token: %w", err)
	}
	sess := &bitnobi.Session{Token: base64.RawURLEncoding.EncodeToString(raw[:]), UserID: id}
	var u *bitnobi.User
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		var err error
		if u, err = findUser(ctx, tx, id); bitnobi.ErrorCode(err) == bitnobi.ENOTFOUND {
			return denied // deleted since the password check
		} else if err != nil {
			return err
		}
		// Housekeeping: expired sessions go whenever someone signs in.
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ts(tx.Now())); err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		sess.CreatedAt = tx.Now()
		sess.ExpiresAt = tx.Now().Add(s.DB.SessionTTL)
		_, err = tx.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_used_at) VALUES (?, ?, ?, ?, ?)`,
			tokenHash(sess.Token), id, ts(sess.CreatedAt), ts(sess.ExpiresAt), ts(sess.CreatedAt))
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		return tx.Audit(asUser(ctx, u), bitnobi.ActionSignIn, "user", u.ID, nil)
	})
	if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// SignOut ends the session of token and records it.
func (s *UserService) SignOut(ctx context.Context, token string) error {
	if token == "" {
		return bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "Not signed in.")
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		var userID string
		err := tx.QueryRow(ctx, `SELECT user_id FROM sessions WHERE token_hash = ?`, tokenHash(token)).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "Not signed in, or the session has ended.")
		} else if err != nil {
			return fmt.Errorf("find session: %w", err)
		}
		u, err := findUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token)); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return tx.Audit(asUser(ctx, u), bitnobi.ActionSignOut, "user", u.ID, nil)
	})
}

// Authenticate returns the user of a valid token: one whose session is
// younger than its absolute lifetime (DB.SessionTTL) and was last used
// less than DB.SessionIdle ago. A use is recorded at most once a minute
// (less often than that for short idle timeouts' sake only: a tenth of
// it), so that authenticating rarely writes.
func (s *UserService) Authenticate(ctx context.Context, token string) (*bitnobi.User, error) {
	denied := bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "The token is not valid or has expired: sign in again.")
	if token == "" || len(token) > 256 {
		return nil, denied
	}
	var u *bitnobi.User
	var touch bool
	var now time.Time
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var userID, created, lastUsed string
		now = tx.Now()
		err := tx.QueryRow(ctx, `SELECT user_id, created_at, last_used_at FROM sessions WHERE token_hash = ? AND expires_at > ?`, tokenHash(token), ts(now)).Scan(&userID, &created, &lastUsed)
		if errors.Is(err, sql.ErrNoRows) {
			return denied
		} else if err != nil {
			return fmt.Errorf("find session: %w", err)
		}
		if lastUsed == "" {
			lastUsed = created // a session from before last_used_at existed
		}
		last, err := parseTS(lastUsed)
		if err != nil {
			return err
		}
		idle := now.Sub(last)
		if s.DB.SessionIdle > 0 && idle >= s.DB.SessionIdle {
			return denied
		}
		every := time.Minute
		if s.DB.SessionIdle > 0 {
			every = min(every, s.DB.SessionIdle/10)
		}
		touch = idle >= every
		if u, err = findUser(ctx, tx, userID); bitnobi.ErrorCode(err) == bitnobi.ENOTFOUND {
			return denied
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if touch {
		_, err := s.DB.Write.ExecContext(ctx, s.DB.Dialect.Rebind(`UPDATE sessions SET last_used_at = ? WHERE token_hash = ? AND last_used_at < ?`), ts(now), tokenHash(token), ts(now))
		if err != nil {
			return nil, fmt.Errorf("record session use: %w", err)
		}
	}
	return u, nil
}

// SignOutAll ends every session of a user: the user themself, or the
// administrator for anyone. It returns how many sessions ended and audits
// the action as user.signout_all.
func (s *UserService) SignOutAll(ctx context.Context, userID string) (int64, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return 0, err
	}
	if !a.IsAdmin && a.UserID != userID {
		return 0, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may sign other users out.")
	}
	var n int64
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		u, err := findUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if n, err = deleteSessions(ctx, tx, userID); err != nil {
			return err
		}
		return tx.Audit(ctx, bitnobi.ActionSignOutAll, "user", userID, map[string]any{"username": u.Username, "sessions": n})
	})
	return n, err
}

// deleteSessions ends every session of a user and returns how many.
func deleteSessions(ctx context.Context, tx *Tx, userID string) (int64, error) {
	r, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return n, nil
}

// FindUsers lists all users, oldest first (administrator only).
func (s *UserService) FindUsers(ctx context.Context) ([]*bitnobi.User, error) {
	if _, err := adminActor(ctx); err != nil {
		return nil, err
	}
	var users []*bitnobi.User
	err := s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		users, err = queryUsers(ctx, tx, `ORDER BY created_at, id`)
		return err
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// FindUserByID returns a user: administrators see anyone, others only
// themselves. A non-administrator asking for someone else is refused
// before the lookup, so the answer does not tell whether the ID exists.
func (s *UserService) FindUserByID(ctx context.Context, id string) (*bitnobi.User, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsAdmin && a.UserID != id {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may see other users.")
	}
	var u *bitnobi.User
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		u, err = findUser(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUser changes a user. Users may change their own e-mail and
// password, giving their current password (also the administrator, for
// their own account: a stolen session must not be enough to take the
// account over); only the administrator changes attributes and the admin
// flag, or anything of another user. The administrator setting another
// user's password is a reset: audited as user.password_reset, and it ends
// that user's sessions. An update that changes nothing writes nothing.
func (s *UserService) UpdateUser(ctx context.Context, id string, upd bitnobi.UserUpdate) (*bitnobi.User, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsAdmin && a.UserID != id {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may change other users.")
	}
	if !a.IsAdmin && (upd.IsAdmin != nil || upd.Attributes != nil) {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator sets attributes and the admin flag.")
	}
	var email, hash string
	if upd.Email != nil {
		email = strings.TrimSpace(*upd.Email)
		if err := validEmail(email); err != nil {
			return nil, err
		}
	}
	if upd.Password != nil {
		if err := validPassword(*upd.Password); err != nil {
			return nil, err
		}
		if hash, err = hashPassword(*upd.Password, s.params()); err != nil {
			return nil, err
		}
	}
	var attrs map[string]string
	if upd.Attributes != nil {
		attrs = *upd.Attributes
		if err := validAttributes("attributes", attrs, 0); err != nil {
			return nil, err
		}
	}
	if a.UserID == id && (upd.Password != nil || upd.Email != nil) {
		if err := s.checkCurrentPassword(ctx, id, upd.CurrentPassword); err != nil {
			return nil, err
		}
	}
	reset := upd.Password != nil && a.UserID != id

	var u *bitnobi.User
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		var err error
		if u, err = findUser(ctx, tx, id); err != nil {
			return err
		}
		var fields []string
		detail := map[string]any{"username": u.Username}
		if upd.Email != nil && email != u.Email {
			u.Email = email
			fields = append(fields, "email")
			detail["email"] = email
		}
		if upd.Password != nil && !reset {
			fields = append(fields, "password") // never the password itself
		}
		if upd.IsAdmin != nil && *upd.IsAdmin != u.IsAdmin {
			if !*upd.IsAdmin {
				if err := ensureOtherAdmin(ctx, tx, "demote"); err != nil {
					return err
				}
			}
			u.IsAdmin = *upd.IsAdmin
			fields = append(fields, "is_admin")
			detail["is_admin"] = u.IsAdmin
		}
		if upd.Attributes != nil && !equalAttributes(attrs, u.Attributes) {
			u.Attributes = copyAttributes(attrs)
			fields = append(fields, "attributes")
			detail["attributes"] = u.Attributes
			if err := writeAttributes(ctx, tx, "user_attributes", "user_id", id, attrs); err != nil {
				return err
			}
		}
		if len(fields) == 0 && !reset {
			return nil
		}
		u.UpdatedAt = tx.Now()
		if hash == "" {
			_, err = tx.Exec(ctx, `UPDATE users SET email = ?, is_admin = ?, updated_at = ? WHERE id = ?`,
				u.Email, boolInt(u.IsAdmin), ts(u.UpdatedAt), id)
		} else {
			_, err = tx.Exec(ctx, `UPDATE users SET email = ?, is_admin = ?, password_hash = ?, updated_at = ? WHERE id = ?`,
				u.Email, boolInt(u.IsAdmin), hash, ts(u.UpdatedAt), id)
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if reset {
			n, err := deleteSessions(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := tx.Audit(ctx, bitnobi.ActionUserPasswordReset, "user", id, map[string]any{"username": u.Username, "sessions_ended": n}); err != nil {
				return err
			}
			if len(fields) == 0 {
				return nil
			}
		}
		detail["fields"] = fields
		return tx.Audit(ctx, bitnobi.ActionUserUpdate, "user", id, detail)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// checkCurrentPassword checks the current password a user gives to change
// their own e-mail or password: EINVALID (field current_password) when it
// is missing or wrong. Wrong ones count towards the account's sign-in
// throttle, so that a stolen session cannot guess the password quickly.
func (s *UserService) checkCurrentPassword(ctx context.Context, id string, current *string) error {
	if current == nil || *current == "" {
		return bitnobi.Invalidf("current_password", "Give your current password (current_password) to change your e-mail or password.")
	}
	var username, hash string
	err := s.DB.Read.QueryRowContext(ctx, s.DB.Dialect.Rebind(`SELECT username, password_hash FROM users WHERE id = ?`), id).Scan(&username, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return bitnobi.Errorf(bitnobi.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	lim := s.limits()
	key := accountKey(username)
	if wait := s.throttle.wait(s.DB.now(), lim, key); wait > 0 {
		return tooManyAttempts(wait)
	}
	ok := false
	if len(*current) <= maxPasswordLen {
		if ok, err = checkPassword(*current, hash); err != nil {
			return fmt.Errorf("check password of user %s: %w", id, err)
		}
	}
	if !ok {
		s.throttle.fail(s.DB.now(), lim, []string{key}, []int{lim.Free})
		return bitnobi.Invalidf("current_password", "The current password is wrong.")
	}
	return nil
}

// DeleteUser removes a user and, through the schema's cascades, their
// sessions, policies, data sources, workflows, runs and reports. The
// secrets of their SQL data sources are removed with them, since nothing
// refers to those any more.
func (s *UserService) DeleteUser(ctx context.Context, id string) error {
	if _, err := adminActor(ctx); err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		u, err := findUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.IsAdmin {
			if err := ensureOtherAdmin(ctx, tx, "delete"); err != nil {
				return err
			}
		}
		secrets, err := queryStrings(ctx, tx, `SELECT secret_id FROM datasources WHERE owner_id = ? AND secret_id IS NOT NULL`, id)
		if err != nil {
			return fmt.Errorf("find secrets of user %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		for _, sid := range secrets {
			if err := tx.DeleteSecret(ctx, sid); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, bitnobi.ActionUserDelete, "user", id, map[string]any{"username": u.Username})
	})
}

// ensureOtherAdmin fails with ECONFLICT unless there are at least two
// administrators, so that the last one is never deleted or demoted.
func ensureOtherAdmin(ctx context.Context, tx *Tx, verb string) error {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE is_admin = 1`).Scan(&n); err != nil {
		return fmt.Errorf("count administrators: %w", err)
	}
	if n < 2 {
		return bitnobi.Errorf(bitnobi.ECONFLICT, "Cannot %s the last administrator: make another user administrator first.", verb)
	}
	return nil
}

// findUser returns the user with id, with attributes, or ENOTFOUND.
func findUser(ctx context.Context, tx *Tx, id string) (*bitnobi.User, error) {
	users, err := queryUsers(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	} else if len(users) == 0 {
		return nil, bitnobi.Errorf(bitnobi.ENOTFOUND, "User not found.")
	}
	return users[0], nil
}

// queryUsers returns the users selected by where (a WHERE and/or ORDER BY
// clause on users), each with attributes.
func queryUsers(ctx context.Context, tx *Tx, where string, args ...any) ([]*bitnobi.User, error) {
	rows, err := tx.Query(ctx, `SELECT id, username, email, is_admin, created_at, updated_at FROM users `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	defer rows.Close()
	var users []*bitnobi.User
	for rows.Next() {
		u := &bitnobi.User{Attributes: map[string]string{}}
		var admin int64
		var created, updated string
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &admin, &created, &updated); err != nil {
			return nil, fmt.Errorf("find users: %w", err)
		}
		u.IsAdmin = admin != 0
		if u.CreatedAt, err = parseTS(created); err != nil {
			return nil, err
		}
		if u.UpdatedAt, err = parseTS(updated); err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	rows.Close()
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	all, err := readManyAttributes(ctx, tx, "user_attributes", "user_id", ids)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		u.Attributes = all[u.ID]
	}
	return users, nil
}

// manyAttributes is how many owners make [readManyAttributes] read the
// whole table in one query rather than one query per owner: a list of
// thousands of users cost thousands of queries (the web's user list took
// 100 ms for 2,000 users).
const manyAttributes = 16

// readManyAttributes returns the key=value pairs of each of ids (an empty
// map for one without any).
func readManyAttributes(ctx context.Context, tx *Tx, table, col string, ids []string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(ids))
	for _, id := range ids {
		out[id] = map[string]string{}
	}
	if len(ids) < manyAttributes {
		for _, id := range ids {
			attrs, err := readAttributes(ctx, tx, table, col, id)
			if err != nil {
				return nil, err
			}
			out[id] = attrs
		}
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+col+`, key, value FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		if m, ok := out[id]; ok {
			m[k] = v
		}
	}
	return out, rows.Err()
}

func usernameTaken(ctx context.Context, tx *Tx, username string) (bool, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE lower(username) = lower(?)`, username).Scan(&n); err != nil {
		return false, fmt.Errorf("check username: %w", err)
	}
	return n > 0, nil
}

// readAttributes returns the key=value pairs of one owner from an
// attribute table (user_attributes or policy_attributes). Table and column
// names are constants of this package, never input.
func readAttributes(ctx context.Context, tx *Tx, table, col, id string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT key, value FROM `+table+` WHERE `+col+` = ? ORDER BY key`, id)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	attrs := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		attrs[k] = v
	}
	return attrs, rows.Err()
}

// writeAttributes replaces the key=value pairs of one owner.
func writeAttributes(ctx context.Context, tx *Tx, table, col, id string, attrs map[string]string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+col+` = ?`, id); err != nil {
		return fmt.Errorf("replace %s: %w", table, err)
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+col+`, key, value) VALUES (?, ?, ?)`, id, k, attrs[k]); err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
	}
	return nil
}

// queryStrings returns the first column of every row of query.
func queryStrings(ctx context.Context, tx *Tx, query string, args ...any) ([]string, error) {
	return QueryStrings(ctx, tx.Tx, tx.db.Dialect.Rebind(query), args...)
}

func copyAttributes(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equalAttributes(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// tokenHash is what the sessions table stores of a token: hex SHA-256.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// asUser returns ctx with u as the actor, keeping where the request came
// from: sign-up and sign-in are recorded as done by the user they concern.
func asUser(ctx context.Context, u *bitnobi.User) context.Context {
	a := bitnobi.ActorFromContext(ctx)
	return bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{
		UserID:     u.ID,
		Username:   u.Username,
		IsAdmin:    u.IsAdmin,
		Attributes: u.Attributes,
		RemoteAddr: a.RemoteAddr,
		RemoteUser: a.RemoteUser,
	})
}

// signedInActor returns the actor of ctx, or EUNAUTHORIZED for an
// anonymous one.
func signedInActor(ctx context.Context) (*bitnobi.Actor, error) {
	a := bitnobi.ActorFromContext(ctx)
	if a.UserID == "" {
		return nil, bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "Sign in first.")
	}
	return a, nil
}

// adminActor returns the actor of ctx if it is the administrator:
// EUNAUTHORIZED for an anonymous actor, EFORBIDDEN for anyone else.
func adminActor(ctx context.Context) (*bitnobi.Actor, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsAdmin {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may do this.")
	}
	return a, nil
}

func validUsername(s string) error {
	if len(s) < minUsernameLen || len(s) > maxUsernameLen {
		return bitnobi.Invalidf("username", "Username must be %d to %d characters long.", minUsernameLen, maxUsernameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			return bitnobi.Invalidf("username", "Username may hold only letters, digits, '.', '_' and '-', and must start with a letter or digit.")
		}
	}
	return nil
}

func validEmail(s string) error {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(s) > maxEmailLen || strings.IndexFunc(s, unicode.IsSpace) >= 0 || !utf8.ValidString(s) {
		return bitnobi.Invalidf("email", "E-mail must be an address such as name@example.org, at most %d characters.", maxEmailLen)
	}
	return nil
}

func validPassword(s string) error {
	if utf8.RuneCountInString(s) < minPasswordLen || len(s) > maxPasswordLen {
		return bitnobi.Invalidf("password", "Password must be at least %d characters and at most %d bytes long.", minPasswordLen, maxPasswordLen)
	}
	return nil
}

// validAttributes checks a set of key=value pairs: at least min of them,
// at most maxAttributes, keys of letters, digits, '.', '_' and '-', values
// non-empty printable text.
func validAttributes(field string, attrs map[string]string, min int) error {
	if len(attrs) < min {
		return bitnobi.Invalidf(field, "Give at least %d attribute=value pair(s).", min)
	}
	if len(attrs) > maxAttributes {
		return bitnobi.Invalidf(field, "At most %d attributes.", maxAttributes)
	}
	for k, v := range attrs {
		if k == "" || len(k) > maxAttrKeyLen {
			return bitnobi.Invalidf(field, "Attribute names must be 1 to %d characters long.", maxAttrKeyLen)
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '.' || c == '_' || c == '-') {
				return bitnobi.Invalidf(field, "Attribute name %q may hold only letters, digits, '.', '_' and '-'.", k)
			}
		}
		if strings.TrimSpace(v) == "" || len(v) > maxAttrValueLen || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return bitnobi.Invalidf(field, "Value of attribute %q must be non-empty text of at most %d bytes.", k, maxAttrValueLen)
		}
	}
	return nil
}

// validText checks a name-like field: non-empty (when required), at most
// max bytes, valid UTF-8.
func validText(field, s string, required bool, max int) error {
	if required && strings.TrimSpace(s) == "" {
		return bitnobi.Invalidf(field, "%s must not be empty.", fieldTitle(field))
	}
	if len(s) > max || !utf8.ValidString(s) {
		return bitnobi.Invalidf(field, "%s must be text of at most %d bytes.", fieldTitle(field), max)
	}
	return nil
}

func fieldTitle(field string) string {
	if field == "" {
		return field
	}
	return strings.ToUpper(field[:1]) + strings.ReplaceAll(field[1:], "_", " ")
}
