package backup_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
)

// TestVerify_ForgedManifest forges one fact of a manifest at a time, with
// its checksum recomputed, and checks that Verify refuses the backup,
// naming what does not agree with the files.
func TestVerify_ForgedManifest(t *testing.T) {
	f := newFixture(t)
	tableIndex := func(m *format.Manifest, name string) int {
		for i, tb := range m.Tables {
			if tb.Name == name {
				return i
			}
		}
		t.Fatalf("no table %s", name)
		return -1
	}
	fileIndex := func(m *format.Manifest, path string) int {
		for i, fl := range m.Files {
			if fl.Path == path {
				return i
			}
		}
		t.Fatalf("no file %s", path)
		return -1
	}
	for _, tt := range []struct {
		name string
		edit func(m *format.Manifest)
		want string
	}{
		{"RawSize", func(m *format.Manifest) {
			tb := &m.Tables[tableIndex(m, "users")]
			tb.Segments[0].RawSize++
			tb.RawSize++
			m.Files[fileIndex(m, tb.Segments[0].File)].RawSize++
		}, "raw_size"},
		{"LastRowSHA256", func(m *format.Manifest) {
			s := &m.Tables[tableIndex(m, "audit_log")].Segments[0]
			s.LastRowSHA256 = strings.Repeat("0", 64)
		}, "last_row_sha256"},
		{"First", func(m *format.Manifest) {
			s := &m.Tables[tableIndex(m, "audit_log")].Segments[0]
			s.First--
		}, "first"},
		{"InstanceID", func(m *format.Manifest) {
			m.InstanceID = "0190f3c2a1b4d5e6f708192a3b4c5d6e"
		}, "instance_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBackup(t, f.res.Path)
			rewriteManifest(t, dir, tt.edit)
			if _, err := format.ReadManifest(dir); err != nil {
				t.Fatalf("the forged manifest does not even parse (forge it better): %v", err)
			}
			_, err := backup.Verify(context.Background(), dir, backup.VerifyOptions{})
			if !errors.Is(err, backup.ErrVerify) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify of a manifest with a forged %s: %v, want a verify error naming %s", tt.name, err, tt.want)
			}
		})
	}
}

// TestVerify_ForgedSchema forges the schema facts of a manifest (checksum
// recomputed) and checks that Verify compares them with the schema of
// the version the manifest states.
func TestVerify_ForgedSchema(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		edit func(m *format.Manifest)
		want string
	}{
		// schema_version itself is checked through the tables: versions 1
		// and 2 have the same ones (0002 adds only change tracking, not
		// backed up), so no forgery between them can be told, or matters.
		{"PrimaryKey", func(m *format.Manifest) {
			for i := range m.Tables {
				if m.Tables[i].Name == "users" {
					m.Tables[i].PrimaryKey = []string{"username"}
				}
			}
		}, "primary_key"},
		{"TableOrder", func(m *format.Manifest) {
			m.Tables[0], m.Tables[1] = m.Tables[1], m.Tables[0]
		}, "order"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBackup(t, f.res.Path)
			rewriteManifest(t, dir, tt.edit)
			if _, err := format.ReadManifest(dir); err != nil {
				t.Fatalf("the forged manifest does not even parse (forge it better): %v", err)
			}
			_, err := backup.Verify(context.Background(), dir, backup.VerifyOptions{})
			if !errors.Is(err, backup.ErrVerify) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify of a manifest with a forged %s: %v, want a verify error naming %s", tt.name, err, tt.want)
			}
		})
	}
}
