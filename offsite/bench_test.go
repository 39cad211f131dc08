package offsite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bitnobi/bitnobi/offsite"
	"github.com/bitnobi/bitnobi/offsite/s3test"
)

// BenchmarkPush pushes one backup with 8 MiB of blobs to an empty prefix
// of the shared server per iteration: everything is sent, checked and
// listed. bench/offsite.sh compares the command with rclone at size S.
func BenchmarkPush(b *testing.B) {
	s := s3test.Shared(b)
	f := newFixture(b)
	for range 8 {
		f.putBlobs(b, randomBytes(1<<20))
	}
	res := f.backup(b, nil)
	var size int64
	for _, fl := range res.Manifest.Files {
		size += fl.Size
	}
	b.SetBytes(size)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		t := s.Target
		t.Prefix = fmt.Sprintf("%s/%d", t.Prefix, i)
		r, err := offsite.Open(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		pr, err := r.Push(ctx, res.Path, offsite.PushOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if pr.Uploaded != pr.Files {
			b.Fatalf("uploaded %d of %d files into an empty prefix", pr.Uploaded, pr.Files)
		}
	}
}
