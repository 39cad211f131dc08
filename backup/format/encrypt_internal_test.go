package format

import (
	"errors"
	"strings"
	"testing"
)

// samplePublic is the public manifest of an encrypted backup.
func samplePublic() *Manifest {
	m := sampleManifest()
	m.Format = FormatVersion
	m.MasterKey.Mode = KeySealed
	m.Encryption = &Encryption{Scheme: EncryptionScheme, Mode: EncryptRecipients}
	p := publicManifest(m)
	p.Files = append(p.Files, File{Path: SealedName, Size: 100, SHA256: strings.Repeat("cd", 32), Encoding: EncodingAge})
	SortFiles(p.Files)
	return p
}

func TestPublicManifest(t *testing.T) {
	data, err := samplePublic().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	if !m.Locked() || m.Public() != m {
		t.Fatal("a parsed public manifest is not locked")
	}
	for _, c := range []struct {
		name string
		edit func(m *Manifest)
	}{
		{"Host", func(m *Manifest) { m.Host = "h" }},
		{"InstanceID", func(m *Manifest) { m.InstanceID = "i" }},
		{"Fingerprint", func(m *Manifest) { m.MasterKey.Fingerprint = "0123456789abcdef" }},
		{"Tables", func(m *Manifest) { m.Tables = sampleManifest().Tables }},
		{"Rows", func(m *Manifest) { m.Stats.Rows = 1 }},
		{"BlobID", func(m *Manifest) { m.Files[0].Blob = strings.Repeat("ab", 32) }},
		{"RawSize", func(m *Manifest) { m.Files[0].RawSize = 5 }},
		{"PlainEncoding", func(m *Manifest) { m.Files[0].Encoding = EncodingZstd }},
		{"NoSealedPart", func(m *Manifest) {
			m.Files = []File{m.Files[0], m.Files[2]}
		}},
		{"Format1", func(m *Manifest) { m.Format = 1 }},
		{"KeyExternal", func(m *Manifest) { m.MasterKey.Mode = KeyExternal }},
		{"Mode", func(m *Manifest) { m.Encryption.Mode = "rot13" }},
		{"SealedPathElsewhere", func(m *Manifest) { m.Files[1].Path = "tables/" + SealedName }},
		{"LinksNotBase64", func(m *Manifest) { m.Links = "not base64!" }},
		{"LinksFormat3", func(m *Manifest) { m.Format, m.Links = FormatSegments, "AAAA" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := samplePublic()
			c.edit(m)
			data, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseManifest(data); !errors.Is(err, ErrVerify) {
				t.Fatalf("ParseManifest: %v, want an error matching ErrVerify", err)
			}
		})
	}
}

// TestLinks seals a link index and opens it: with the key of the same
// master key and series only, and never when altered.
func TestLinks(t *testing.T) {
	m := sampleManifest()
	var key, otherKey [32]byte
	otherKey[0] = 1
	newC := func(key [32]byte, series string) *Cryptor {
		return &Cryptor{linksKey: deriveKey(key[:], linksContext, series)}
	}
	c := newC(key, "recipients\nage1x")
	sealed, err := c.sealLinks(m)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := c.OpenLinks(sealed)
	if err != nil {
		t.Fatalf("OpenLinks: %v", err)
	}
	if idx.InstanceID != m.InstanceID || idx.Engine != m.Engine || idx.SchemaVersion != m.SchemaVersion ||
		len(idx.Tables) != len(m.Tables) || idx.Tables[0].Name != m.Tables[0].Name {
		t.Fatalf("opened %+v, want the tables of %+v", idx, m)
	}
	for _, f := range idx.Files {
		if !strings.HasPrefix(f.Path, "tables/") {
			t.Fatalf("link index lists %s, not a table file", f.Path)
		}
	}
	if len(idx.Files) == 0 {
		t.Fatal("link index lists no files")
	}
	if other, _ := c.sealLinks(m); other == sealed {
		t.Fatal("two sealings are equal: the nonce is not random")
	}
	for _, tt := range []struct {
		name    string
		c       *Cryptor
		sealed  string
		wantErr error
	}{
		{"OtherSeries", newC(key, "recipients\nage1y"), sealed, ErrNoLinks},
		{"OtherMasterKey", newC(otherKey, "recipients\nage1x"), sealed, ErrNoLinks},
		{"NameKeyIsNotLinksKey", &Cryptor{linksKey: deriveKey(key[:], nameContext, "recipients\nage1x")}, sealed, ErrNoLinks},
		{"Altered", c, sealed[:40] + otherChar(sealed[40]) + sealed[41:], ErrNoLinks},
		{"Truncated", c, sealed[:len(sealed)-8], ErrNoLinks},
		{"Short", c, "AAAA", ErrMalformed},
		{"NotBase64", c, "%%%", ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.OpenLinks(tt.sealed); !errors.Is(err, tt.wantErr) {
				t.Fatalf("OpenLinks: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// otherChar returns a base64 character other than c.
func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestBlobName(t *testing.T) {
	var key [32]byte
	newC := func(series string, key [32]byte) *Cryptor {
		return &Cryptor{nameKey: deriveKey(key[:], nameContext, series)}
	}
	id := strings.Repeat("ab", 32)
	a := newC("recipients\nage1x", key)
	if n := a.BlobName(id, EncodingNone); n == id || !hexRE.MatchString(n) {
		t.Fatalf("blobName=%q", n)
	}
	if a.BlobName(id, EncodingNone) != newC("recipients\nage1x", key).BlobName(id, EncodingNone) {
		t.Fatal("blobName is not deterministic")
	}
	key2 := key
	key2[0] = 1
	for what, other := range map[string]string{
		"encoding":   a.BlobName(id, EncodingZstd),
		"recipients": newC("recipients\nage1y", key).BlobName(id, EncodingNone),
		"master key": newC("recipients\nage1x", key2).BlobName(id, EncodingNone),
		"blob":       a.BlobName(strings.Repeat("cd", 32), EncodingNone),
	} {
		if other == a.BlobName(id, EncodingNone) {
			t.Errorf("another %s gives the same name", what)
		}
	}
}
