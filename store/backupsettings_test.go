package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// TestBackupSettings: defaults before the first save, a save that seals
// the off-site secret key, validation naming the field, and the
// administrator-only rule.
func TestBackupSettings(t *testing.T) { dbtest.Run(t, testBackupSettings) }

func testBackupSettings(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	users := &store.UserService{DB: db, Password: cheap}
	alice, err := users.SignUp(ctx, "alice", "a@example.org", "password one")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := users.SignUp(ctx, "bob", "b@example.org", "password two")
	if err != nil {
		t.Fatal(err)
	}
	admin := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{UserID: alice.ID, Username: "alice", IsAdmin: true})
	other := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{UserID: bob.ID, Username: "bob"})
	s := &store.BackupSettingsService{DB: db}

	got, err := s.GetBackupSettings(admin)
	if err != nil {
		t.Fatal(err)
	}
	if def := bitnobi.DefaultBackupSettings(); got.Schedule != def.Schedule || !got.Enabled || !got.UpdatedAt.IsZero() {
		t.Fatalf("fresh settings %+v, want the defaults", got)
	}
	if _, err := s.GetBackupSettings(other); bitnobi.ErrorCode(err) != bitnobi.EFORBIDDEN {
		t.Fatalf("non-administrator read: %v, want forbidden", err)
	}

	key := "s3-secret-key"
	upd := bitnobi.BackupSettingsUpdate{Enabled: true, Schedule: "30 3 * * *", Retention: bitnobi.Retention{KeepLast: 3, KeepWithin: "7d"},
		VerifySchedule: "weekly on monday at 04:00", AlertAfterHours: 30,
		Offsite: bitnobi.OffsiteTarget{Endpoint: "127.0.0.1:9000", Bucket: "bk", Prefix: "/site/", AccessKey: "AK"}, OffsiteSecretKey: &key}
	saved, err := s.UpdateBackupSettings(admin, upd)
	if err != nil {
		t.Fatal(err)
	}
	if !saved.Offsite.SecretKeySet || saved.Offsite.Prefix != "site" || saved.UpdatedAt.IsZero() {
		t.Fatalf("saved %+v", saved)
	}
	stored, secretKey, err := s.Stored(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if secretKey != key || stored.Schedule != "30 3 * * *" || stored.Retention.KeepWithin != "7d" || stored.AlertAfterHours != 30 || stored.DeepVerifySchedule != "" {
		t.Fatalf("stored %+v key %q", stored, secretKey)
	}
	var sealed string
	if err := db.Read.QueryRowContext(ctx, db.Dialect.Rebind(`SELECT s.sealed FROM secrets s JOIN backup_settings b ON b.offsite_secret_id = s.id`)).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, key) {
		t.Fatal("the off-site secret key is stored in the clear")
	}
	// A second save without a key keeps it; "" removes it, and its secret.
	upd.OffsiteSecretKey = nil
	if saved, err = s.UpdateBackupSettings(admin, upd); err != nil || !saved.Offsite.SecretKeySet {
		t.Fatalf("save without a key: %+v, %v", saved, err)
	}
	empty := ""
	upd.OffsiteSecretKey = &empty
	if saved, err = s.UpdateBackupSettings(admin, upd); err != nil || saved.Offsite.SecretKeySet {
		t.Fatalf("save removing the key: %+v, %v", saved, err)
	}
	var n int
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM secrets`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d secrets left (%v), want 0", n, err)
	}

	for field, bad := range map[string]bitnobi.BackupSettingsUpdate{
		"schedule":              {Enabled: true, Schedule: "every full moon"},
		"verify_schedule":       {Schedule: "daily at 01:00", VerifySchedule: "61 * * * *"},
		"retention.keep_daily":  {Schedule: "daily at 01:00", Retention: bitnobi.Retention{KeepDaily: -1}},
		"retention.keep_within": {Schedule: "daily at 01:00", Retention: bitnobi.Retention{KeepWithin: "a while"}},
		"alert_after_hours":     {Schedule: "daily at 01:00", AlertAfterHours: -2},
		"offsite.bucket":        {Schedule: "daily at 01:00", Offsite: bitnobi.OffsiteTarget{Endpoint: "s3.example.org"}},
		"offsite.sse":           {Schedule: "daily at 01:00", Offsite: bitnobi.OffsiteTarget{SSE: "rot13"}},
	} {
		_, err := s.UpdateBackupSettings(admin, bad)
		var be *bitnobi.Error
		if !errors.As(err, &be) || be.Code != bitnobi.EINVALID || be.Field != field {
			t.Errorf("%s: %v, want EINVALID on field %s", field, err, field)
		}
	}
	if _, err := s.UpdateBackupSettings(other, upd); bitnobi.ErrorCode(err) != bitnobi.EFORBIDDEN {
		t.Fatalf("non-administrator update: %v, want forbidden", err)
	}
	entries, err := (&store.AuditService{DB: db}).FindAuditEntries(admin, bitnobi.AuditFilter{Action: bitnobi.ActionSettingsUpdate})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[0].TargetID != "backup" {
		t.Fatalf("%d settings.update audit entries, want 3 for the backup settings", len(entries))
	}
}
