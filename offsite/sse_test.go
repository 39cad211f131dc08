package offsite_test

import (
	"context"
	"testing"

	"github.com/bitnobi/bitnobi/offsite"
	"github.com/bitnobi/bitnobi/offsite/s3test"
)

// TestPush_SSES3 pushes with server-side encryption (SSE-S3) requested:
// every upload and check must carry it and still verify. versitygw's
// posix backend accepts the request but stores plain files, so this shows
// the requests are well formed, not that the bytes are encrypted at rest;
// SSE-C needs TLS, which the test server does not serve.
func TestPush_SSES3(t *testing.T) {
	s := s3test.Shared(t)
	s.Target.SSE = offsite.SSE{Mode: offsite.SSES3}
	f := newFixture(t)
	b := f.backup(t, nil)
	r := s.Open(t)
	push(t, r, b.Path)
	vr, err := r.Verify(context.Background(), b.Name, nil)
	if err != nil || vr.Err() != nil {
		t.Fatalf("Verify: %v %v", err, vr.Err())
	}
}
