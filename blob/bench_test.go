package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/bitnobi/bitnobi/blob"
)

// BenchmarkPut measures storing content: hashing, writing and fsyncing a
// temporary file and renaming it into place, in MB/s.
//
//	go test -run '^$' -bench Put ./blob/
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			data := make([]byte, size)
			rand.Read(data)
			s := newStore(b)
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				// A different first byte each time, so each Put stores
				// a new blob rather than finding it there.
				data[0] = byte(i)
				data[1] = byte(i >> 8)
				i++
				if _, _, err := s.Put(context.Background(), bytes.NewReader(data), 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHashFile measures re-hashing a stored blob, as verification
// does, in MB/s.
func BenchmarkHashFile(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	rand.Read(data)
	s := newStore(b)
	id, _, err := s.Put(context.Background(), bytes.NewReader(data), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		if _, _, err := blob.HashFile(s.Path(id)); err != nil {
			b.Fatal(err)
		}
	}
}
