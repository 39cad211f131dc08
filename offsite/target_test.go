package offsite_test

import (
	"errors"
	"testing"

	"github.com/bitnobi/bitnobi/offsite"
)

func TestTarget_Validate(t *testing.T) {
	ok := offsite.Target{Endpoint: "s3.example.com", Bucket: "b", AccessKeyID: "k", SecretAccessKey: "s"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", ok, err)
	}
	for _, tc := range []struct {
		name string
		edit func(*offsite.Target)
	}{
		{"NoEndpoint", func(t *offsite.Target) { t.Endpoint = "" }},
		{"EndpointPath", func(t *offsite.Target) { t.Endpoint = "https://s3.example.com/bucket" }},
		{"EndpointScheme", func(t *offsite.Target) { t.Endpoint = "ftp://s3.example.com" }},
		{"NoBucket", func(t *offsite.Target) { t.Bucket = "" }},
		{"BucketSlash", func(t *offsite.Target) { t.Bucket = "b/p" }},
		{"NoAccessKey", func(t *offsite.Target) { t.AccessKeyID = "" }},
		{"NoSecret", func(t *offsite.Target) { t.SecretAccessKey = "" }},
		{"SSEUnknown", func(t *offsite.Target) { t.SSE.Mode = "aes" }},
		{"SSECShortKey", func(t *offsite.Target) { t.SSE = offsite.SSE{Mode: offsite.SSEC, CustomerKey: make([]byte, 16)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := ok
			tc.edit(&tg)
			if err := tg.Validate(); !errors.Is(err, offsite.ErrConfig) {
				t.Fatalf("Validate(%+v): %v, want ErrConfig", tg, err)
			}
		})
	}
	if got, want := (offsite.Target{Bucket: "b", Prefix: "/a/c/"}).URL("backup-1"), "s3://b/a/c/backup-1"; got != want {
		t.Errorf("URL=%q, want %q", got, want)
	}
	if got, want := (offsite.Target{Bucket: "b"}).URL("backup-1"), "s3://b/backup-1"; got != want {
		t.Errorf("URL=%q, want %q", got, want)
	}
}
