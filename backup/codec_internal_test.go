package backup

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/backup/format/formattest"
)

// zstdFrame returns data compressed as one zstd frame, as a [format.ZstdWriter]
// writes it.
func zstdFrame(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	z := format.NewZstdWriter(&buf)
	if _, err := z.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := z.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodeReader_Frames: a zstd file of several concatenated frames
// decodes to the frames' contents one after the other, whichever of our
// encoders wrote each frame. Blob files start with the frame of their
// compression sample and go on with a frame of the rest.
func TestDecodeReader_Frames(t *testing.T) {
	old := runtime.GOMAXPROCS(4) // so that newBlobZstdWriter takes the multi-goroutine encoder
	defer runtime.GOMAXPROCS(old)
	csv := formattest.SampleCSV(format.SampleSize + 5<<20 + 1000) // the rest spans two of the big encoder's 4 MiB jobs
	head, rest := csv[:format.SampleSize], csv[format.SampleSize:]
	sample, ok := format.CompressSample(head, true)
	if !ok {
		t.Fatal("the CSV sample does not compress")
	}
	var big bytes.Buffer
	bw := newBlobZstdWriter(&big, bigBlobSize) // the size only picks the encoder
	if _, ok := bw.(*bigZstdWriter); !ok {
		t.Fatalf("newBlobZstdWriter gave a %T, want the multi-goroutine encoder", bw)
	}
	if _, err := bw.Write(rest); err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	empty := zstdFrame(t, nil)
	small := csv[:5000]

	for _, c := range []struct {
		name   string
		frames [][]byte
		want   []byte
	}{
		{"OneFrame", [][]byte{zstdFrame(t, small)}, small},
		{"SampleAndRest", [][]byte{sample, zstdFrame(t, rest)}, csv},
		{"SampleAndBigEncoderRest", [][]byte{sample, big.Bytes()}, csv},
		{"EmptyFrameBetween", [][]byte{sample, empty, zstdFrame(t, rest)}, csv},
		{"EmptyFrameOnly", [][]byte{empty}, nil},
		{"ThreeFrames", [][]byte{zstdFrame(t, small), sample, zstdFrame(t, small)}, append(append(append([]byte{}, small...), head...), small...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, release, err := format.DecodeReader(bytes.NewReader(bytes.Join(c.frames, nil)), format.EncodingZstd)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, c.want) {
				t.Fatalf("decoded %d bytes, want the %d of the frames' contents", len(got), len(c.want))
			}
		})
	}
}
