package bitnobi_test

import (
	"testing"

	"github.com/bitnobi/bitnobi"
)

func TestPolicy_Matches(t *testing.T) {
	it := map[string]string{"organization": "Bitnobi", "department": "IT"}
	for _, tc := range []struct {
		name   string
		policy map[string]string
		user   map[string]string
		want   bool
	}{
		{"OnePairMatches", map[string]string{"organization": "Bitnobi"}, it, true},
		{"AllPairsMatch", map[string]string{"organization": "Bitnobi", "department": "IT"}, it, true},
		{"ExtraUserAttributesIgnored", map[string]string{"department": "IT"}, map[string]string{"department": "IT", "site": "Paris"}, true},
		{"ValueDiffers", map[string]string{"department": "Sales"}, it, false},
		{"OnePairOfTwoMissing", map[string]string{"organization": "Bitnobi", "role": "researcher"}, it, false},
		{"ValueCaseMatters", map[string]string{"organization": "bitnobi"}, it, false},
		{"KeyCaseMatters", map[string]string{"Organization": "Bitnobi"}, it, false},
		{"UserWithoutAttributes", map[string]string{"organization": "Bitnobi"}, nil, false},
		{"EmptyValueIsNotMissing", map[string]string{"department": ""}, map[string]string{}, false},
		{"PolicyWithoutAttributesMatchesNobody", nil, it, false},
		{"EmptyPolicyEmptyUser", map[string]string{}, map[string]string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &bitnobi.Policy{Attributes: tc.policy}
			if got := p.Matches(tc.user); got != tc.want {
				t.Fatalf("Matches(%v) with policy %v = %v, want %v", tc.user, tc.policy, got, tc.want)
			}
		})
	}
}
