package format

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression: docs/backup-format.md, "Compression".

// Encodings of a file in a backup.
const (
	EncodingNone = "none" // the bytes as they are
	EncodingZstd = "zstd" // one or more zstd frames
	// EncodingAge marks, in the public manifest of an encrypted backup,
	// a file encrypted with age; its encoding under the encryption is in
	// the encrypted part.
	EncodingAge = "age"
)

const (
	// SampleSize is how much of a blob is compressed to decide whether
	// compressing it pays.
	SampleSize = 1 << 20

	// compressRatio is the largest compressed/raw size ratio of the sample
	// at which a blob is stored compressed. Measured: CSV compresses to
	// about 0.32, random or already compressed data to 1.00
	// (docs/backup-format.md).
	compressRatio = 0.90

	// ZstdLevel is the compression level. SpeedFastest compresses CSV as
	// well as SpeedDefault (0.324 against 0.325) and about 1.7 times as
	// fast (docs/backup-format.md).
	ZstdLevel = zstd.SpeedFastest
)

// encoderPool holds zstd encoders; each uses one goroutine and a bounded
// window, so memory stays bounded however large the input.
var encoderPool = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(ZstdLevel), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
}}

var decoderPool = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		panic(err)
	}
	return d
}}

// ZstdWriter compresses into w. Close flushes the frame and returns the
// encoder to the pool; it does not close w.
type ZstdWriter struct{ e *zstd.Encoder }

// NewZstdWriter returns a [ZstdWriter] writing one zstd frame to w.
func NewZstdWriter(w io.Writer) *ZstdWriter {
	e := encoderPool.Get().(*zstd.Encoder)
	e.Reset(w)
	return &ZstdWriter{e: e}
}

// Write compresses p.
func (z *ZstdWriter) Write(p []byte) (int, error) { return z.e.Write(p) }

// Close ends the frame.
func (z *ZstdWriter) Close() error {
	if z.e == nil {
		return nil
	}
	err := z.e.Close()
	z.e.Reset(nil)
	encoderPool.Put(z.e)
	z.e = nil
	return err
}

// DecodeReader returns a reader of r's decoded content for encoding, and
// a function that releases it.
func DecodeReader(r io.Reader, encoding string) (io.Reader, func(), error) {
	switch encoding {
	case EncodingNone:
		return r, func() {}, nil
	case EncodingZstd:
		d := decoderPool.Get().(*zstd.Decoder)
		if err := d.Reset(r); err != nil {
			decoderPool.Put(d)
			return nil, nil, err
		}
		return d, func() { d.Reset(nil); decoderPool.Put(d) }, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown encoding %q", ErrMalformed, encoding)
}

// Compresses reports whether the sample is worth storing compressed.
func Compresses(sample []byte) bool {
	_, ok := CompressSample(sample, false)
	return ok
}

// CompressSample compresses sample and reports whether that pays. With
// keep set it also returns, when it pays, the compressed bytes: one whole
// zstd frame, the same a [ZstdWriter] writes for sample. A blob's file
// starts with that frame (see backup's writeBlob), so that the sample is
// compressed once, not twice.
//
// The compressed bytes go into a buffer of the largest size that pays,
// and compressing stops once they would not fit: a sample that does not
// compress (an audit segment, which is zstd already) costs neither a
// buffer grown twice over nor the compression of its last blocks.
func CompressSample(sample []byte, keep bool) ([]byte, bool) {
	if len(sample) == 0 {
		return nil, false
	}
	lw := &limitWriter{max: int(compressRatio * float64(len(sample)))}
	if keep {
		lw.buf = make([]byte, 0, lw.max)
	}
	z := NewZstdWriter(lw)
	_, err := z.Write(sample)
	if cerr := z.Close(); err == nil {
		err = cerr
	}
	if err != nil { // only errNoGain: lw fails nothing else, and the encoder fails nothing in memory
		return nil, false
	}
	return lw.buf, true
}

// errNoGain stops compressing a sample whose compressed bytes would be
// more than compressRatio of it.
var errNoGain = errors.New("the sample does not compress")

// limitWriter counts, and with buf not nil keeps, what is written to it,
// and fails a write that would take it past max bytes.
type limitWriter struct {
	buf []byte // nil to count only
	n   int
	max int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.max {
		return 0, errNoGain
	}
	w.n += len(p)
	if w.buf != nil {
		w.buf = append(w.buf, p...)
	}
	return len(p), nil
}

// CountWriter counts the bytes written to it.
type CountWriter int64

// Write counts p.
func (c *CountWriter) Write(p []byte) (int, error) { *c += CountWriter(len(p)); return len(p), nil }
