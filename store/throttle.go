package store

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
)

// SignInLimits sets the sign-in throttle of a [UserService]: after Free
// failed sign-ins for one account (or FreeAddress from one address), each
// further failure makes that account (or address) wait Base, then twice as
// long after the next failure, and so on, up to Max. An attempt made while
// waiting is refused without checking the password and does not count, so
// an attacker cannot lock a real user out for longer than Max at a time.
// Failures older than Forget are forgotten. The counts live in memory: a
// restart forgets them.
type SignInLimits struct {
	Free        int           // failures per account before the first wait
	FreeAddress int           // failures per remote address before the first wait
	Base        time.Duration // the first wait
	Max         time.Duration // the longest wait
	Forget      time.Duration // how long a failure counts
	MaxKeys     int           // accounts and addresses tracked at once
}

// DefaultSignInLimits are the limits of a UserService whose Limits are
// zero: 5 failures per account and 20 per address (addresses may be shared
// behind NAT), then waits of 1 s doubling up to 5 minutes; failures count
// for 15 minutes.
var DefaultSignInLimits = SignInLimits{Free: 5, FreeAddress: 20, Base: time.Second, Max: 5 * time.Minute, Forget: 15 * time.Minute, MaxKeys: 100_000}

// throttle counts failed sign-ins by key ("user:NAME" or "addr:ADDRESS").
type throttle struct {
	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	failures int
	last     time.Time // the last failure
	until    time.Time // no attempt before this
}

// wait returns how long the caller must still wait before trying keys, or
// 0 when they may try now.
func (t *throttle) wait(now time.Time, lim SignInLimits, keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if e := t.entries[k]; e != nil && now.Before(e.until) {
			d = max(d, e.until.Sub(now))
		}
	}
	return d
}

// fail records a failure for each key; free holds how many failures each
// key may have before it waits.
func (t *throttle) fail(now time.Time, lim SignInLimits, keys []string, free []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = map[string]*throttleEntry{}
	}
	if len(t.entries) >= lim.MaxKeys {
		t.sweep(now, lim)
	}
	for i, k := range keys {
		e := t.entries[k]
		if e == nil || now.Sub(e.last) > lim.Forget {
			e = &throttleEntry{}
			t.entries[k] = e
		}
		e.failures++
		e.last = now
		if n := e.failures - free[i]; n > 0 {
			d := lim.Max
			if n <= 30 && lim.Base<<(n-1) < lim.Max {
				d = lim.Base << (n - 1)
			}
			e.until = now.Add(d)
		}
	}
}

// reset forgets the failures of key.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// sweep drops forgotten entries; if that is not enough, it drops every
// entry, so that memory stays bounded whatever an attacker sends (the
// price: a flood of new keys clears the throttle).
func (t *throttle) sweep(now time.Time, lim SignInLimits) {
	for k, e := range t.entries {
		if now.Sub(e.last) > lim.Forget && !now.Before(e.until) {
			delete(t.entries, k)
		}
	}
	if len(t.entries) >= lim.MaxKeys {
		clear(t.entries)
	}
}

func accountKey(username string) string { return "user:" + strings.ToLower(username) }
func addressKey(addr string) string     { return "addr:" + addr }

// tooManyAttempts is the error of a throttled sign-in.
func tooManyAttempts(wait time.Duration) error {
	secs := int64((wait + time.Second - 1) / time.Second)
	return &bitnobi.Error{
		Code:       bitnobi.ETOOMANY,
		Message:    "Too many failed sign-ins for this account or from this address: wait " + plural(secs, "second") + ", then try again.",
		RetryAfter: time.Duration(secs) * time.Second,
	}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
