package store

import (
	"context"
	"fmt"

	"github.com/bitnobi/bitnobi"
)

// PolicyService implements [bitnobi.PolicyService] on the database.
type PolicyService struct {
	DB *DB
}

var _ bitnobi.PolicyService = (*PolicyService)(nil)

// CreatePolicy stores p with the actor as owner, filling in p's ID, owner
// and times on success.
func (s *PolicyService) CreatePolicy(ctx context.Context, p *bitnobi.Policy) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	if err := validPolicy(p.Name, p.Description, p.Attributes); err != nil {
		return err
	}
	if p.Global && !a.IsAdmin {
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may make a policy global.")
	}
	q := *p
	q.ID = bitnobi.NewID()
	q.OwnerID = a.UserID
	q.Attributes = copyAttributes(p.Attributes)
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		q.CreatedAt, q.UpdatedAt = tx.Now(), tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO policies (id, owner_id, name, description, global, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			q.ID, q.OwnerID, q.Name, q.Description, boolInt(q.Global), ts(q.CreatedAt), ts(q.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert policy: %w", err)
		}
		if err := writeAttributes(ctx, tx, "policy_attributes", "policy_id", q.ID, q.Attributes); err != nil {
			return err
		}
		return tx.Audit(ctx, bitnobi.ActionPolicyCreate, "policy", q.ID, policyDetail(&q))
	})
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// FindPolicies lists the policies visible to the actor, oldest first.
func (s *PolicyService) FindPolicies(ctx context.Context) ([]*bitnobi.Policy, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var ps []*bitnobi.Policy
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		if a.IsAdmin {
			ps, err = queryPolicies(ctx, tx, `ORDER BY created_at, id`)
		} else {
			ps, err = queryPolicies(ctx, tx, `WHERE owner_id = ? OR global = 1 ORDER BY created_at, id`, a.UserID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// FindPolicyByID returns a policy visible to the actor.
func (s *PolicyService) FindPolicyByID(ctx context.Context, id string) (*bitnobi.Policy, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	var p *bitnobi.Policy
	err = s.DB.ReadTx(ctx, func(tx *Tx) error {
		var err error
		p, err = findVisiblePolicy(ctx, tx, a, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// UpdatePolicy changes a policy the actor owns, or any for the
// administrator. An update that changes nothing writes nothing.
func (s *PolicyService) UpdatePolicy(ctx context.Context, id string, upd bitnobi.PolicyUpdate) (*bitnobi.Policy, error) {
	a, err := signedInActor(ctx)
	if err != nil {
		return nil, err
	}
	if upd.Name != nil {
		if err := validText("name", *upd.Name, true, maxNameLen); err != nil {
			return nil, err
		}
	}
	if upd.Description != nil {
		if err := validText("description", *upd.Description, false, maxDescriptionLen); err != nil {
			return nil, err
		}
	}
	if upd.Attributes != nil {
		if err := validAttributes("attributes", *upd.Attributes, 1); err != nil {
			return nil, err
		}
	}
	var p *bitnobi.Policy
	err = s.DB.WriteTx(ctx, func(tx *Tx) error {
		var err error
		if p, err = findChangeablePolicy(ctx, tx, a, id); err != nil {
			return err
		}
		changed := false
		if upd.Global != nil && *upd.Global != p.Global {
			if !a.IsAdmin {
				return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may change whether a policy is global.")
			}
			p.Global, changed = *upd.Global, true
		}
		if upd.Name != nil && *upd.Name != p.Name {
			p.Name, changed = *upd.Name, true
		}
		if upd.Description != nil && *upd.Description != p.Description {
			p.Description, changed = *upd.Description, true
		}
		if upd.Attributes != nil && !equalAttributes(*upd.Attributes, p.Attributes) {
			p.Attributes, changed = copyAttributes(*upd.Attributes), true
			if err := writeAttributes(ctx, tx, "policy_attributes", "policy_id", id, p.Attributes); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		p.UpdatedAt = tx.Now()
		_, err = tx.Exec(ctx, `UPDATE policies SET name = ?, description = ?, global = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Description, boolInt(p.Global), ts(p.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("update policy: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionPolicyUpdate, "policy", id, policyDetail(p))
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeletePolicy removes a policy; the schema's cascade detaches it from
// every workflow it was attached to.
func (s *PolicyService) DeletePolicy(ctx context.Context, id string) error {
	a, err := signedInActor(ctx)
	if err != nil {
		return err
	}
	return s.DB.WriteTx(ctx, func(tx *Tx) error {
		p, err := findChangeablePolicy(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM policies WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete policy: %w", err)
		}
		return tx.Audit(ctx, bitnobi.ActionPolicyDelete, "policy", id, map[string]any{"name": p.Name, "owner_id": p.OwnerID})
	})
}

// findVisiblePolicy returns the policy if a may see it, and ENOTFOUND
// otherwise, so that a private policy's existence is not revealed.
func findVisiblePolicy(ctx context.Context, tx *Tx, a *bitnobi.Actor, id string) (*bitnobi.Policy, error) {
	ps, err := queryPolicies(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 || !(a.IsAdmin || ps[0].Global || ps[0].OwnerID == a.UserID) {
		return nil, bitnobi.Errorf(bitnobi.ENOTFOUND, "Policy not found.")
	}
	return ps[0], nil
}

// findChangeablePolicy returns the policy if a may change it: ENOTFOUND
// if a may not even see it, EFORBIDDEN if a sees it (global) but neither
// owns it nor is the administrator.
func findChangeablePolicy(ctx context.Context, tx *Tx, a *bitnobi.Actor, id string) (*bitnobi.Policy, error) {
	p, err := findVisiblePolicy(ctx, tx, a, id)
	if err != nil {
		return nil, err
	}
	if !a.IsAdmin && p.OwnerID != a.UserID {
		return nil, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the policy's owner or the administrator may change it.")
	}
	return p, nil
}

// queryPolicies returns the policies selected by where (a WHERE and/or
// ORDER BY clause on policies), each with attributes.
func queryPolicies(ctx context.Context, tx *Tx, where string, args ...any) ([]*bitnobi.Policy, error) {
	rows, err := tx.Query(ctx, `SELECT id, owner_id, name, description, global, created_at, updated_at FROM policies `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("find policies: %w", err)
	}
	defer rows.Close()
	var ps []*bitnobi.Policy
	for rows.Next() {
		p := &bitnobi.Policy{}
		var global int64
		var created, updated string
		if err := rows.Scan(&p.ID, &p.OwnerID, &p.Name, &p.Description, &global, &created, &updated); err != nil {
			return nil, fmt.Errorf("find policies: %w", err)
		}
		p.Global = global != 0
		if p.CreatedAt, err = parseTS(created); err != nil {
			return nil, err
		}
		if p.UpdatedAt, err = parseTS(updated); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find policies: %w", err)
	}
	rows.Close()
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	all, err := readManyAttributes(ctx, tx, "policy_attributes", "policy_id", ids)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		p.Attributes = all[p.ID]
	}
	return ps, nil
}

func validPolicy(name, description string, attrs map[string]string) error {
	if err := validText("name", name, true, maxNameLen); err != nil {
		return err
	}
	if err := validText("description", description, false, maxDescriptionLen); err != nil {
		return err
	}
	return validAttributes("attributes", attrs, 1)
}

func policyDetail(p *bitnobi.Policy) map[string]any {
	return map[string]any{"name": p.Name, "global": p.Global, "attributes": p.Attributes, "owner_id": p.OwnerID}
}
