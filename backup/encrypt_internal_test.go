package backup

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
	sortFiles(p.Files)
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

func TestBlobName(t *testing.T) {
	var key [32]byte
	newC := func(series string, key [32]byte) *cryptor {
		return &cryptor{nameKey: deriveNameKey(key[:], series)}
	}
	id := strings.Repeat("ab", 32)
	a := newC("recipients\nage1x", key)
	if n := a.blobName(id, EncodingNone); n == id || !hexRE.MatchString(n) {
		t.Fatalf("blobName=%q", n)
	}
	if a.blobName(id, EncodingNone) != newC("recipients\nage1x", key).blobName(id, EncodingNone) {
		t.Fatal("blobName is not deterministic")
	}
	key2 := key
	key2[0] = 1
	for what, other := range map[string]string{
		"encoding":   a.blobName(id, EncodingZstd),
		"recipients": newC("recipients\nage1y", key).blobName(id, EncodingNone),
		"master key": newC("recipients\nage1x", key2).blobName(id, EncodingNone),
		"blob":       a.blobName(strings.Repeat("cd", 32), EncodingNone),
	} {
		if other == a.blobName(id, EncodingNone) {
			t.Errorf("another %s gives the same name", what)
		}
	}
}
