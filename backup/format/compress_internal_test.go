package format

import (
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
