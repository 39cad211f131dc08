package format

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bitnobi/bitnobi/backup/format/formattest"
)

func TestCompressionChoice(t *testing.T) {
	if !Compresses(formattest.SampleCSV(SampleSize)) {
		t.Error("CSV is not stored compressed")
	}
	if Compresses(formattest.RandomBytes(SampleSize)) {
		t.Error("random data is stored compressed")
	}
	if Compresses(nil) {
		t.Error("an empty blob is stored compressed")
	}
}

// BenchmarkBlobEncoding measures what the blob encoding costs and saves
// on CSV and on random data; the numbers are in docs/backup-format.md.
// Run: go test -run '^$' -bench BlobEncoding ./backup/
func BenchmarkBlobEncoding(b *testing.B) {
	const size = 32 << 20
	for _, in := range []struct {
		name string
		data []byte
	}{{"csv", formattest.SampleCSV(size)}, {"random", formattest.RandomBytes(size)}} {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(size)
			var out CountWriter
			for b.Loop() {
				out = 0
				if !Compresses(in.data[:SampleSize]) {
					out = CountWriter(len(in.data))
					continue
				}
				z := NewZstdWriter(&out)
				z.Write(in.data)
				z.Close()
			}
			b.ReportMetric(float64(out)/float64(size), "ratio")
		})
	}
}

// TestCompressSampleLimit checks the decision at its edge: a sample is
// stored compressed exactly when its frame, as a ZstdWriter writes it,
// is at most compressRatio of it, and the frame kept is that frame.
func TestCompressSampleLimit(t *testing.T) {
	csv := formattest.SampleCSV(SampleSize)
	random := formattest.RandomBytes(SampleSize)
	type sample struct {
		name   string
		sample []byte
	}
	samples := []sample{{"CSV", csv}, {"Random", random}}
	// Text then random bytes, in shares that put the frame on either
	// side of compressRatio.
	for _, pct := range []int{78, 82, 84, 86, 88, 90} {
		n := SampleSize * pct / 100
		samples = append(samples, sample{fmt.Sprintf("Random%d%%", pct), append(append([]byte{}, csv[:SampleSize-n]...), random[:n]...)})
	}
	kept := map[bool]int{}
	defer func() {
		if kept[true] < 2 || kept[false] < 2 {
			t.Errorf("samples kept/refused: %d/%d, want both sides of the limit", kept[true], kept[false])
		}
	}()
	for _, tc := range samples {
		t.Run(tc.name, func(t *testing.T) {
			var whole bytes.Buffer
			z := NewZstdWriter(&whole)
			z.Write(tc.sample)
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			want := float64(whole.Len()) <= compressRatio*float64(len(tc.sample))
			frame, ok := CompressSample(tc.sample, true)
			if ok != want {
				t.Fatalf("CompressSample: ok=%v, want %v (frame %d of %d bytes)", ok, want, whole.Len(), len(tc.sample))
			}
			kept[ok]++
			if ok != Compresses(tc.sample) {
				t.Fatalf("Compresses=%v, CompressSample=%v", !ok, ok)
			}
			if ok && !bytes.Equal(frame, whole.Bytes()) {
				t.Fatalf("kept frame of %d bytes is not the ZstdWriter's %d", len(frame), whole.Len())
			}
			if !ok && frame != nil {
				t.Fatalf("kept %d bytes of a sample that does not pay", len(frame))
			}
		})
	}
}
