package format

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func sampleManifest() *Manifest {
	id := strings.Repeat("ab", 32)
	return &Manifest{
		Format: FormatVersion, AppVersion: "1.2.3", SchemaVersion: 1, Engine: "sqlite",
		CreatedAt: time.Date(2025, 1, 2, 15, 4, 5, 6, time.UTC), Host: "h", InstanceID: "i",
		MasterKey: KeyInfo{Fingerprint: "0123456789abcdef", Mode: KeyExternal},
		Tables: []Table{
			{Name: "blobs", Segments: []Segment{{File: "tables/blobs.0.jsonl.zst", Rows: 1, RawSize: 10}}, ChangeStamp: "0f1e", Rows: 1, RawSize: 10,
				Columns: []Column{{Name: "id", Type: "TEXT"}, {Name: "size", Type: "INTEGER"}}, PrimaryKey: []string{"id"}},
			{Name: "log", Segments: []Segment{
				{File: "tables/log.0.jsonl.zst", Rows: 2, RawSize: 30, Keys: &[2]int64{0, SegmentKeys - 1}, First: 1, Last: 2, LastRowSHA256: id},
				{File: "tables/log.1.jsonl.zst", Rows: 1, RawSize: 10, Keys: &[2]int64{SegmentKeys, 2*SegmentKeys - 1}, First: SegmentKeys + 5, Last: SegmentKeys + 5, LastRowSHA256: id},
			}, Rows: 3, RawSize: 40, Columns: []Column{{Name: "seq", Type: "INTEGER"}}, PrimaryKey: []string{"seq"}},
		},
		Files: []File{
			{Path: "blobs/ab/" + id, Size: 5, SHA256: id, Encoding: EncodingNone, RawSize: 5, Blob: id},
			{Path: "tables/blobs.0.jsonl.zst", Size: 20, SHA256: id, Encoding: EncodingZstd, RawSize: 10},
			{Path: "tables/log.0.jsonl.zst", Size: 20, SHA256: id, Encoding: EncodingZstd, RawSize: 30},
			{Path: "tables/log.1.jsonl.zst", Size: 20, SHA256: id, Encoding: EncodingZstd, RawSize: 10},
		},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte(fmt.Sprintf("\"manifest_checksum\": %q\n}\n", m.ManifestChecksum))) {
		t.Fatalf("manifest does not end with its checksum:\n%s", data)
	}
	got, err := ParseManifest(data)
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	again, _ := got.Marshal()
	if !bytes.Equal(again, data) {
		t.Fatalf("re-marshalled manifest differs:\n%s\n%s", again, data)
	}
	// Unknown members are refused: a reader must not skip what it does
	// not understand.
	bad := bytes.Replace(data, []byte(`"host"`), []byte(`"hostx"`), 1)
	m2, _ := ParseManifest(bad)
	if m2 != nil {
		t.Fatal("accepted a manifest whose checksum is wrong")
	}
}

// TestManifestSegments checks the rules of format 3's segments, and that
// format 1's one file per table still parses.
func TestManifestSegments(t *testing.T) {
	cases := []struct {
		name   string
		change func(m *Manifest)
		ok     bool
	}{
		{"Sample", func(m *Manifest) {}, true},
		{"Format1File", func(m *Manifest) {
			m.Format = 1
			m.Tables = m.Tables[:1]
			m.Tables[0].Segments, m.Tables[0].ChangeStamp, m.Tables[0].File = nil, "", "tables/blobs.jsonl.zst"
			m.Files = m.Files[:2]
			m.Files[1].Path = "tables/blobs.jsonl.zst"
		}, true},
		{"Format1Segments", func(m *Manifest) { m.Format = 1 }, false},
		{"Format3File", func(m *Manifest) { m.Tables[0].File = "tables/blobs.jsonl.zst" }, false},
		{"LinksInPlain", func(m *Manifest) { m.Links = "AAAA" }, false},
		{"NoSegments", func(m *Manifest) { m.Tables[0].Segments = nil }, false},
		{"WrongName", func(m *Manifest) { m.Tables[1].Segments[1].File = "tables/log.2.jsonl.zst" }, false},
		{"RowsDisagree", func(m *Manifest) { m.Tables[1].Rows = 4 }, false},
		{"RawDisagree", func(m *Manifest) { m.Tables[1].Segments[0].RawSize = 31 }, false},
		{"Overlap", func(m *Manifest) { m.Tables[1].Segments[1].Keys = &[2]int64{5, SegmentKeys} }, false},
		{"KeysOutside", func(m *Manifest) { m.Tables[1].Segments[0].Last = SegmentKeys }, false},
		{"TooManyRows", func(m *Manifest) {
			m.Tables[1].Segments[0].Rows, m.Tables[1].Rows = 3, 4
		}, false},
		{"NoLastHash", func(m *Manifest) { m.Tables[1].Segments[0].LastRowSHA256 = "" }, false},
		{"KeylessSplit", func(m *Manifest) { m.Tables[1].Segments[1].Keys = nil }, false},
		{"StampNotHex", func(m *Manifest) { m.Tables[0].ChangeStamp = "zz" }, false},
		{"SharedFile", func(m *Manifest) { m.Tables[1].Segments[0].File = "tables/blobs.0.jsonl.zst" }, false},
		{"StrayFile", func(m *Manifest) {
			m.Files = append(m.Files, File{Path: "tables/log.7.jsonl.zst", Size: 1, SHA256: m.Files[0].SHA256, Encoding: EncodingZstd, RawSize: 1})
		}, false},
		{"LeadingZero", func(m *Manifest) { m.Files[1].Path = "tables/blobs.00.jsonl.zst" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := sampleManifest()
			c.change(m)
			data, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseManifest(data)
			if c.ok && err != nil {
				t.Fatalf("ParseManifest: %v", err)
			}
			if !c.ok && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("ParseManifest: %v, want it refused as malformed", err)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	data, _ := sampleManifest().Marshal()
	f.Add(data)
	public, _ := samplePublic().Marshal()
	f.Add(public)
	f.Add(data[:len(data)/2])
	f.Add([]byte(`{"manifest_checksum": "` + strings.Repeat("0", 64) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrVerify) && !errors.Is(err, ErrNewerVersion) {
				t.Fatalf("error %v matches neither ErrVerify nor ErrNewerVersion", err)
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(out); err != nil {
			t.Fatalf("a parsed manifest does not parse once marshalled: %v", err)
		}
	})
}
