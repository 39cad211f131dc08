package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/backup/format/formattest"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/secret"
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

// blobWriter returns a writer of a backup in a new directory, reading
// blobs from a new live store, and that store. With encrypt set the
// backup is encrypted to a new identity, which ids holds.
func blobWriter(t *testing.T, encrypt bool) (w *writer, store *blob.Store, ids []age.Identity) {
	t.Helper()
	root := t.TempDir()
	store = blob.NewStore(filepath.Join(root, "blobs"))
	tmp := filepath.Join(root, "backup")
	if err := os.Mkdir(tmp, dirPerm); err != nil {
		t.Fatal(err)
	}
	w = &writer{tmp: tmp, blobs: store, shards: map[string]bool{}}
	if encrypt {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		if w.crypt, err = format.NewCryptor(&format.EncryptOptions{Recipients: []age.Recipient{id.Recipient()}}, secret.Key{}, "", nil); err != nil {
			t.Fatal(err)
		}
		ids = []age.Identity{id}
	}
	return w, store, ids
}

// encodedBlob returns the content of the blob file f that w wrote,
// decrypted when ids are given: the blob, encoded.
func encodedBlob(t *testing.T, w *writer, f format.File, ids []age.Identity) []byte {
	t.Helper()
	file, err := os.Open(filepath.Join(w.tmp, filepath.FromSlash(f.Path)))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var r io.Reader = file
	if ids != nil {
		if r, err = format.DecryptReader(file, ids, false); err != nil {
			t.Fatal(err)
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodeZstd returns the decoded content of the zstd frames in data.
func decodeZstd(t *testing.T, data []byte) []byte {
	t.Helper()
	r, release, err := format.DecodeReader(bytes.NewReader(data), format.EncodingZstd)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out
}

// TestCopyBlob_Frames: a compressed blob's file starts with the zstd
// frame its compression sample made, and holds the rest of the blob, if
// any, as a second frame; with the first MiB compressed once, the file
// still decodes to the whole blob, and the whole blob counts as copied.
// An encrypted backup holds the same frames inside the age file.
func TestCopyBlob_Frames(t *testing.T) {
	csv := formattest.SampleCSV(3<<20 + 123)
	for _, c := range []struct {
		name    string
		content []byte
		enc     string
	}{
		{"Empty", nil, format.EncodingNone},
		{"SmallCSV", csv[:5000], format.EncodingZstd},
		{"SampleSizeCSV", csv[:format.SampleSize], format.EncodingZstd},
		{"SampleSizePlusOneCSV", csv[:format.SampleSize+1], format.EncodingZstd},
		{"LargeCSV", csv, format.EncodingZstd},
		{"LargeRandom", formattest.RandomBytes(2<<20 + 77), format.EncodingNone},
	} {
		for _, encrypt := range []bool{false, true} {
			name := c.name + "/Plain"
			if encrypt {
				name = c.name + "/Encrypted"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				w, store, ids := blobWriter(t, encrypt)
				id, size, err := store.Put(ctx, bytes.NewReader(c.content), 0)
				if err != nil {
					t.Fatal(err)
				}
				f, linked, err := w.copyBlob(ctx, blobRef{id: id, size: size}, nil)
				if err != nil || linked {
					t.Fatalf("copyBlob: linked %v, %v", linked, err)
				}
				if f.Encoding != c.enc || f.RawSize != size || f.Blob != id {
					t.Fatalf("copyBlob=%+v, want encoding %s, raw size %d, blob %s", f, c.enc, size, id)
				}
				if got, want := w.blobBytes.Load(), size; got != want {
					t.Fatalf("blobBytes=%d, want %d", got, want)
				}
				data := encodedBlob(t, w, f, ids)
				if c.enc == format.EncodingNone {
					if !bytes.Equal(data, c.content) {
						t.Fatalf("file of %d bytes, want the blob's %d as they are", len(data), len(c.content))
					}
					return
				}
				if got := decodeZstd(t, data); !bytes.Equal(got, c.content) {
					t.Fatalf("file decodes to %d bytes, want the blob's %d", len(got), len(c.content))
				}
				head := c.content[:min(len(c.content), format.SampleSize)]
				frame, ok := format.CompressSample(head, true)
				if !ok || !bytes.HasPrefix(data, frame) {
					t.Fatalf("file does not start with the sample's frame (%d bytes, format.Compresses: %v)", len(frame), ok)
				}
				rest := data[len(frame):]
				if len(c.content) <= format.SampleSize {
					if len(rest) != 0 {
						t.Fatalf("%d bytes after the frame of a blob that fits in it", len(rest))
					}
					return
				}
				if got, want := decodeZstd(t, rest), c.content[format.SampleSize:]; !bytes.Equal(got, want) {
					t.Fatalf("second frame decodes to %d bytes, want the %d after the sample", len(got), len(want))
				}
			})
		}
	}
}

// TestCopyBlob_Damaged: a blob whose content in the live store does not
// hash to its id is refused, wherever the damage is: in the compression
// sample, whose frame is then not written as it is, or in the rest.
func TestCopyBlob_Damaged(t *testing.T) {
	csv := formattest.SampleCSV(3 << 20)
	random := formattest.RandomBytes(2 << 20)
	for _, c := range []struct {
		name    string
		content []byte
		damage  func(b []byte) []byte
	}{
		{"CSVInSample", csv, func(b []byte) []byte { b[100] ^= 1; return b }},
		{"CSVInRest", csv, func(b []byte) []byte { b[format.SampleSize+100] ^= 1; return b }},
		{"CSVLastByte", csv, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"CSVTruncated", csv, func(b []byte) []byte { return b[:len(b)-1] }},
		{"CSVTruncatedToSample", csv, func(b []byte) []byte { return b[:format.SampleSize] }},
		{"CSVLonger", csv, func(b []byte) []byte { return append(b, '\n') }},
		{"SmallCSV", csv[:5000], func(b []byte) []byte { b[100] ^= 1; return b }},
		{"RandomInRest", random, func(b []byte) []byte { b[format.SampleSize+100] ^= 1; return b }},
	} {
		for _, encrypt := range []bool{false, true} {
			name := c.name + "/Plain"
			if encrypt {
				name = c.name + "/Encrypted"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				w, store, _ := blobWriter(t, encrypt)
				id, size, err := store.Put(ctx, bytes.NewReader(c.content), 0)
				if err != nil {
					t.Fatal(err)
				}
				path := store.Path(id)
				if err := os.Chmod(path, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, c.damage(bytes.Clone(c.content)), 0o600); err != nil {
					t.Fatal(err)
				}
				_, _, err = w.copyBlob(ctx, blobRef{id: id, size: size}, nil)
				var he *HintError
				if !errors.As(err, &he) || !strings.Contains(err.Error(), id+" in the data directory is damaged") {
					t.Fatalf("copyBlob err=%v, want a HintError saying blob %s is damaged", err, id)
				}
			})
		}
	}
}
