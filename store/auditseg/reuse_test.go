package auditseg_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// FuzzDecodeFrameFieldsInto: frames of two files decoded in turn into the same
// reused memory (DecodeFrameFieldsInto, then HashFrame) give what
// ReadFrame gives into new memory, and fail where it fails.
func FuzzDecodeFrameFieldsInto(f *testing.F) {
	var seeds [][]byte
	for _, n := range []int{1, 50, auditseg.FrameEntries + 2, 3 * auditseg.FrameEntries} {
		b, err := auditseg.Encode(entries(n))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, p := range []string{"testdata/v2-1100-entries.seg", "testdata/v3-1100-entries.seg"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, a := range seeds {
		for _, b := range seeds {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var xs []*auditseg.Index
		var files [][]byte
		for _, d := range [][]byte{a, b} {
			x, err := auditseg.ReadIndex(bytes.NewReader(d), int64(len(d)), -1)
			if err != nil {
				continue
			}
			xs, files = append(xs, x), append(files, d)
		}
		var es []bitnobi.AuditEntry
		var buf []byte
		for i := 0; ; i++ {
			done := true
			for k, x := range xs {
				if i >= len(x.Frames) {
					continue
				}
				done = false
				d := files[k]
				fr := x.Frames[i]
				want, werr := x.ReadFrame(bytes.NewReader(d), i)
				got, gbuf, gerr := x.DecodeFrameFieldsInto(bytes.NewReader(d), i, d[fr.Offset:fr.Offset+int64(fr.Size)], es, buf)
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("file %d frame %d: ReadFrame %v, DecodeFrameFieldsInto %v", k, i, werr, gerr)
				}
				if gerr != nil {
					continue
				}
				x.HashFrame(i, got)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("file %d frame %d into reused memory differs:\n%s", k, i, diff)
				}
				es, buf = got, gbuf
			}
			if done {
				return
			}
		}
	})
}
