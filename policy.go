package bitnobi

import (
	"context"
	"time"
)

// Policy states who may use a workflow's result: a user matches the policy
// when the user has every attribute=value pair of it. A policy is visible to
// its owner only, except a global one (only the administrator may make one),
// which every user may see and attach.
type Policy struct {
	ID          string            `json:"id"`
	OwnerID     string            `json:"owner_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Attributes  map[string]string `json:"attributes"`
	Global      bool              `json:"global"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// Matches reports whether a user with attrs has every attribute=value pair
// of p. A policy without attributes matches nobody.
func (p *Policy) Matches(attrs map[string]string) bool {
	if len(p.Attributes) == 0 {
		return false
	}
	for k, v := range p.Attributes {
		if got, ok := attrs[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// PolicyUpdate holds the fields an update may change; nil means unchanged.
type PolicyUpdate struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Attributes  *map[string]string `json:"attributes"`
	Global      *bool              `json:"global"`
}

// PolicyService manages policies. The actor comes from the context; an
// anonymous actor gets EUNAUTHORIZED from every method. The administrator
// sees and may change every policy, so as to look after them.
type PolicyService interface {
	// CreatePolicy stores p with the actor as owner.
	// Errors: EINVALID (no attributes, empty name), EFORBIDDEN (global by a
	// non-administrator).
	CreatePolicy(ctx context.Context, p *Policy) error
	// FindPolicies lists the actor's own policies and all global ones
	// (every policy, for the administrator), oldest first.
	FindPolicies(ctx context.Context) ([]*Policy, error)
	// FindPolicyByID returns a policy visible to the actor: its own, a
	// global one, or any for the administrator. Errors: ENOTFOUND (also
	// for another user's private policy).
	FindPolicyByID(ctx context.Context, id string) (*Policy, error)
	// UpdatePolicy changes a policy the actor owns (or any, for the
	// administrator). Only the administrator changes the Global flag.
	// Errors: EINVALID, ENOTFOUND, EFORBIDDEN.
	UpdatePolicy(ctx context.Context, id string, upd PolicyUpdate) (*Policy, error)
	// DeletePolicy removes a policy the actor owns (or any, for the
	// administrator) and detaches it from workflows.
	// Errors: ENOTFOUND, EFORBIDDEN.
	DeletePolicy(ctx context.Context, id string) error
}
