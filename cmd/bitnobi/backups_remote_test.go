package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/offsite/s3test"
)

// withEnv returns env with the given changes (an empty value removes).
func withEnv(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func TestBackupsRemote(t *testing.T) {
	s := s3test.Shared(t)
	root, dataDir := seededDataDir(t)
	src := mustBackup(t, dataDir)
	name := filepath.Base(src)
	key := datadir.Dir(dataDir).Key()
	want := dumpOf(t, dataDir)

	// The secret key from a file of mode 0600, as an operator would.
	secretFile := filepath.Join(root, "s3-secret")
	if err := os.WriteFile(secretFile, []byte(s.Target.SecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := withEnv(s.Env(), EnvS3Secret, "", EnvS3SecretFile, secretFile, EnvDataDir, dataDir)
	url := "s3://" + s.Target.Bucket + "/" + s.Target.Prefix + "/" + name

	code, out, errOut := runMain(t, env, "backups", "push", name)
	if code != ExitOK || testutil.LastLine(out) != url || !strings.Contains(errOut, "pushed "+name) {
		t.Fatalf("push: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, errOut = runMain(t, env, "backups", "push", name)
	if code != ExitOK || !strings.Contains(errOut, "nothing sent") {
		t.Fatalf("second push: exit %d, stderr %s; want nothing sent", code, errOut)
	}

	code, out, errOut = runMain(t, env, "backups", "list", "--remote")
	if code != ExitOK || !strings.Contains(lineWith(out, name), "no") || strings.Contains(out, "incomplete") {
		t.Fatalf("list --remote: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runMain(t, env, "backups", "list", "--remote", "--json")
	if code != ExitOK || !strings.Contains(out, `"url": "`+url+`"`) {
		t.Fatalf("list --remote --json: exit %d\n%s", code, out)
	}
	code, out, errOut = runMain(t, env, "backups", "verify", "--remote", name)
	if code != ExitOK || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("verify --remote: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	t.Run("Restore", func(t *testing.T) {
		target := filepath.Join(root, "t1", "bitnobi-data")
		code, out, errOut := runMain(t, env, "restore", url, "--data-dir", target, "--key-file", key)
		if code != ExitOK || !strings.Contains(out, "restored "+name) {
			t.Fatalf("restore %s: exit %d\n%s\n%s", url, code, out, errOut)
		}
		compareDumps(t, want, dumpOf(t, target))
		entries, _ := os.ReadDir(filepath.Dir(target))
		for _, e := range entries {
			if strings.Contains(e.Name(), "restore-archive") {
				t.Errorf("left beside the data directory: %s", e.Name())
			}
		}
	})

	t.Run("Pull", func(t *testing.T) {
		other := filepath.Join(root, "elsewhere", "backup")
		code, out, errOut := runMain(t, env, "backups", "pull", name, "--backup-dir", other)
		if code != ExitOK || testutil.LastLine(out) != filepath.Join(other, name) {
			t.Fatalf("pull: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if code, out, errOut := runMain(t, env, "backups", "verify", "--backup-dir", other, name); code != ExitOK {
			t.Fatalf("verify of the pulled backup: exit %d\n%s\n%s", code, out, errOut)
		}
		if code, _, errOut := runMain(t, env, "backups", "pull", url, "--backup-dir", other); code != ExitUsage || !strings.Contains(errOut, "already") {
			t.Fatalf("pulling it again: exit %d, stderr %s", code, errOut)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			env     map[string]string
			code    int
			message string
			hint    string
		}{
			{"WrongSecret", withEnv(env, EnvS3SecretFile, "", EnvS3Secret, "wrong"), ExitRemote, "wrong secret key", EnvS3SecretFile},
			{"NoBucket", withEnv(env, EnvS3Bucket, "nope"), ExitRemote, `bucket does not exist: "nope"`, EnvS3Bucket},
			{"Unreachable", withEnv(env, EnvS3Endpoint, "http://127.0.0.1:1"), ExitRemote, "unreachable", EnvS3Endpoint},
			{"NotConfigured", withEnv(env, EnvS3Endpoint, ""), ExitUsage, EnvS3Endpoint + " is not set", EnvS3SecretFile},
			{"NoSecret", withEnv(env, EnvS3SecretFile, ""), ExitUsage, "no secret key", EnvS3SecretFile},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, _, errOut := runMain(t, tc.env, "backups", "list", "--remote")
				if code != tc.code || !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, tc.message) ||
					!strings.Contains(errOut, "Try: ") || !strings.Contains(errOut, tc.hint) {
					t.Fatalf("exit %d, want %d, with %q and a Try: naming %s\nstderr: %s", code, tc.code, tc.message, tc.hint, errOut)
				}
			})
		}
		if err := os.Chmod(secretFile, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runMain(t, env, "backups", "list", "--remote")
		os.Chmod(secretFile, 0o600)
		if code != ExitUsage || !strings.Contains(errOut, "chmod 600") {
			t.Fatalf("secret file readable by others: exit %d, stderr %s", code, errOut)
		}
		code, _, errOut = runMain(t, env, "backups", "pull", "backup-19990101_0000")
		if code != ExitUsage || !strings.Contains(errOut, "no such backup") {
			t.Fatalf("pull of a backup not there: exit %d, stderr %s", code, errOut)
		}
	})

	// Another backup, then prune --remote keeps only the newest.
	second := mustBackup(t, dataDir)
	if code, out, errOut := runMain(t, env, "backups", "push", second); code != ExitOK {
		t.Fatalf("push of the second backup: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runMain(t, env, "backups", "prune", "--remote"); code != ExitUsage {
		t.Fatalf("prune --remote without a rule: exit %d\n%s", code, out)
	}
	code, out, errOut = runMain(t, env, "backups", "prune", "--remote", "--keep-last", "1")
	if code != ExitOK || !strings.Contains(out, "1 backup removed") || !strings.Contains(lineWith(out, name), "remove") {
		t.Fatalf("prune --remote: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runMain(t, env, "backups", "list", "--remote")
	if code != ExitOK || strings.Contains(out, name+" ") || !strings.Contains(out, filepath.Base(second)) {
		t.Fatalf("list --remote after prune:\n%s", out)
	}

	t.Run("VerifyAltered", func(t *testing.T) {
		mf, err := format.ReadManifest(second)
		if err != nil {
			t.Fatal(err)
		}
		f := mf.Files[len(mf.Files)-1]
		p := s.ObjectPath(s.Key("data/" + f.SHA256[:2] + "/" + f.SHA256))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[0] ^= 0xff
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runMain(t, env, "backups", "verify", "--remote", filepath.Base(second))
		if code != ExitVerify || !strings.Contains(out, "FAILED") || !strings.Contains(errOut, f.Path) || !strings.Contains(errOut, "altered") {
			t.Fatalf("verify --remote of an altered object: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		target := filepath.Join(root, "t2", "bitnobi-data")
		code, _, errOut = runMain(t, env, "restore", url[:strings.LastIndexByte(url, '/')+1]+filepath.Base(second), "--data-dir", target, "--key-file", key)
		if code != ExitVerify {
			t.Fatalf("restore of an altered remote backup: exit %d, want %d\n%s", code, ExitVerify, errOut)
		}
		if left, _ := os.ReadDir(filepath.Join(root, "t2")); len(left) > 0 {
			t.Fatalf("a refused restore left %v", left)
		}
		code, _, errOut = runMain(t, env, "backups", "push", "--repair", second)
		if code != ExitOK || !strings.Contains(errOut, "repaired "+filepath.Base(second)+": 1 object") {
			t.Fatalf("push --repair: exit %d, stderr %s", code, errOut)
		}
		if code, out, errOut := runMain(t, env, "backups", "verify", "--remote", "--all"); code != ExitOK {
			t.Fatalf("verify --remote --all after the repair: exit %d\n%s\n%s", code, out, errOut)
		}
	})
}

func TestBackupsRemote_Help(t *testing.T) {
	for _, args := range [][]string{
		{"backups", "push", "--help"}, {"backups", "pull", "--help"},
	} {
		code, out, _ := runMain(t, nil, args...)
		if code != ExitOK || !strings.Contains(out, EnvS3SecretFile) || !strings.Contains(out, "5 the off-site storage") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	for _, args := range [][]string{
		{"backups", "list", "--help"}, {"backups", "verify", "--help"}, {"backups", "prune", "--help"}, {"restore", "--help"},
	} {
		if code, out, _ := runMain(t, nil, args...); code != ExitOK || !strings.Contains(out, "s3") && !strings.Contains(out, "S3") {
			t.Errorf("%v: exit %d, no word of S3\n%s", args, code, out)
		}
	}
}

// TestBackupsPush_ServerGone stops the S3 server and pushes: exit code 5,
// a message that says the copy is incomplete, and nothing listed as a
// backup once the server is back; a second push finishes it.
func TestBackupsPush_ServerGone(t *testing.T) {
	s := s3test.Start(t)
	_, dataDir := seededDataDir(t)
	src := mustBackup(t, dataDir)
	env := withEnv(s.Env(), EnvDataDir, dataDir)
	s.Stop()
	code, _, errOut := runMain(t, env, "backups", "push", src)
	if code != ExitRemote || !strings.Contains(errOut, "unreachable") || !strings.Contains(errOut, "Try: ") {
		t.Fatalf("push with the server gone: exit %d, want %d\n%s", code, ExitRemote, errOut)
	}
	s.Restart(t)
	if code, out, errOut := runMain(t, env, "backups", "list", "--remote"); code != ExitOK || strings.Contains(out, filepath.Base(src)+" ") {
		t.Fatalf("list --remote: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, env, "backups", "push", src); code != ExitOK {
		t.Fatalf("push with the server back: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, env, "backups", "verify", "--remote", filepath.Base(src)); code != ExitOK {
		t.Fatalf("verify --remote: exit %d\n%s\n%s", code, out, errOut)
	}
}
