package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bitnobi/bitnobi/blob"
)

// TestCopyBlob_Cancelled: a blob copy stops at its next chunk once the
// context ends, rather than finishing the blob, so that cancelling a
// backup (or another blob's failure) does not wait for a large blob.
func TestCopyBlob_Cancelled(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store := blob.NewStore(filepath.Join(root, "blobs"))
	p := make([]byte, 8<<20)
	rand.Read(p)
	id, size, err := store.Put(ctx, bytes.NewReader(p), 0)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "backup")
	if err := os.Mkdir(tmp, dirPerm); err != nil {
		t.Fatal(err)
	}
	w := &writer{tmp: tmp, blobs: store, shards: map[string]bool{}}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = w.copyBlob(cctx, blobRef{id: id, size: size}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copyBlob err=%v, want context.Canceled", err)
	}
	if n := w.blobBytes.Load(); n != 0 {
		t.Fatalf("copied %d bytes of a blob whose copy was cancelled", n)
	}
}
