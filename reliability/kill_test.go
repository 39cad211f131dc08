package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/testutil"
)

// TestKillDuringBackup kills "bitnobi backup" with SIGKILL at random
// moments. Afterwards nothing that is not a complete, verifying backup is
// listed as one, the next backup succeeds and removes the leftovers, and
// the live data is unchanged.
func TestKillDuringBackup(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data, folder := filepath.Join(root, "data"), filepath.Join(root, "backups")
	seedDataDir(t, data, prof.BlobMiB, "marker-live", "")
	before := dump(t, data)

	// One full backup to measure how long one takes; trials kill at a
	// random moment within that (linking ones are shorter: some trials
	// let the backup finish, which is part of the test too).
	start := time.Now()
	mustRun(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
	full := time.Since(start)
	// And remove it, so that later backups are full again.
	if err := os.RemoveAll(lastBackup(t, folder)); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killed := 0
	for i := range prof.BackupKills {
		delay := time.Duration(rnd.Int64N(int64(full) + 1))
		wasKilled, r := killAfter(t, delay, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
		if wasKilled {
			killed++
		} else if r.Code != 0 {
			t.Fatalf("trial %d: backup not killed but failed: %s", i, r)
		}
		checkListedVerify(t, folder)
		// The next backup succeeds and cleans up.
		mustRun(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
		if tmp := entries(t, folder, ".tmp-backup-"); len(tmp) > 0 {
			t.Fatalf("trial %d: after the next backup, temporary directories remain: %v", i, tmp)
		}
		checkListedVerify(t, folder)
		// Keep the folder small; every other trial starts from nothing
		// so that both full and linking backups are killed.
		if i%2 == 1 {
			for _, in := range mustList(t, folder) {
				os.RemoveAll(in.Path)
			}
		}
		t.Logf("trial %d: killed=%v after %v", i, wasKilled, delay)
	}
	if after := dump(t, data); !after.equal(before) {
		t.Fatal("the live data changed during the killed backups")
	}
	t.Logf("%d trials, %d killed mid-backup (%v per full backup)", prof.BackupKills, killed, full)
	record(t, "kill -9 during backup", prof.BackupKills, fmt.Sprintf("%d killed mid-way, others finished; nothing lost", killed))
}

func mustList(t testing.TB, folder string) []backup.Info {
	t.Helper()
	infos, err := backup.Folder{Path: folder}.Backups()
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func lastBackup(t testing.TB, folder string) string {
	t.Helper()
	infos := mustList(t, folder)
	if len(infos) == 0 {
		t.Fatal("no backup in " + folder)
	}
	return infos[len(infos)-1].Path
}

// checkListedVerify checks that every backup that List takes for one
// (its manifest reads) verifies completely.
func checkListedVerify(t testing.TB, folder string) {
	t.Helper()
	for _, in := range mustList(t, folder) {
		if in.Err != nil {
			continue // shown as damaged, not as a backup
		}
		if _, err := backup.Verify(context.Background(), in.Path, backup.VerifyOptions{}); err != nil {
			t.Fatalf("%s is listed as a backup but does not verify: %v", in.Name, err)
		}
	}
}

// TestKillDuringRestore kills an in-place "bitnobi restore" at random
// moments. After the recovery that the next command runs, the data
// directory holds exactly the old state or exactly the new one, and the
// next restore succeeds.
func TestKillDuringRestore(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	folder := filepath.Join(root, "backups")
	srcA, srcB := filepath.Join(root, "a"), filepath.Join(root, "b")
	seedDataDir(t, srcA, prof.BlobMiB/2, "marker-A", "")
	seedDataDir(t, srcB, prof.BlobMiB, "marker-B", filepath.Join(srcA, "master.key"))
	key := filepath.Join(root, "master.key")
	backuptest.CopyKey(t, filepath.Join(srcA, "master.key"), key)
	bk := map[string]string{}
	for name, src := range map[string]string{"A": srcA, "B": srcB} {
		r := mustRun(t, "backup", "--quiet", "--data-dir", src, "--backup-dir", folder)
		bk[name] = testutil.LastLine(r.Stdout)
		_ = r
	}
	// Expected states: each backup restored completely.
	want := map[string]*state{}
	var restoreTime time.Duration
	for name, b := range bk {
		dst := filepath.Join(root, "want-"+name)
		start := time.Now()
		mustRun(t, "restore", b, "--quiet", "--data-dir", dst, "--key-file", key)
		restoreTime = max(restoreTime, time.Since(start))
		want[name] = dump(t, dst)
		os.RemoveAll(dst)
	}
	if want["A"].marker() == want["B"].marker() {
		t.Fatalf("states A and B are not distinguishable: %q", want["A"].marker())
	}
	which := func(s *state) string {
		for name, w := range want {
			if s.equal(w) {
				return name
			}
		}
		return ""
	}

	data := filepath.Join(root, "data")
	mustRun(t, "restore", bk["A"], "--quiet", "--data-dir", data, "--key-file", key)
	cur := "A"
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	outcomes := map[string]int{}
	for i := range prof.RestoreKills {
		next := map[string]string{"A": "B", "B": "A"}[cur]
		delay := time.Duration(rnd.Int64N(int64(restoreTime) + 1))
		wasKilled, r := killAfter(t, delay, "restore", bk[next], "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
		if !wasKilled && r.Code != 0 {
			t.Fatalf("trial %d: restore not killed but failed: %s", i, r)
		}
		// The recovery step that serve, backup and restore run first.
		if err := backup.RecoverInterruptedRestore(data); err != nil {
			t.Fatalf("trial %d: recover: %v", i, err)
		}
		got := which(dump(t, data))
		switch {
		case got == "":
			t.Fatalf("trial %d (killed=%v after %v): the data directory holds neither the old state %s nor the new %s", i, wasKilled, delay, cur, next)
		case !wasKilled && got != next:
			t.Fatalf("trial %d: finished restore left state %s, want %s", i, got, next)
		}
		outcome := "old"
		if got == next {
			outcome = "new"
		}
		if wasKilled {
			outcomes["killed, "+outcome]++
		} else {
			outcomes["finished"]++
		}
		t.Logf("trial %d: killed=%v after %v: %s state", i, wasKilled, delay, outcome)
		// The next restore succeeds.
		mustRun(t, "restore", bk[next], "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
		if got := which(dump(t, data)); got != next {
			t.Fatalf("trial %d: restore after the kill gave state %q, want %s", i, got, next)
		}
		if s := entries(t, root, "data.restore-staging"); len(s) > 0 {
			t.Fatalf("trial %d: staging directory left after a complete restore", i)
		}
		for _, prev := range entries(t, root, "data.before-restore-") {
			os.RemoveAll(filepath.Join(root, prev)) // kept when killed before the discard
		}
		cur = next
	}
	t.Logf("outcomes: %v", outcomes)
	record(t, "kill -9 during restore (in place)", prof.RestoreKills, fmt.Sprintf("always the old or the new state, never a mix: %v; next restore always succeeded", outcomes))
}

// TestKillServerDuringWrites kills the server with SIGKILL while clients
// create policies, restarts it, and checks that every policy whose
// creation was acknowledged (201) is there.
func TestKillServerDuringWrites(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var acked []string
	admin := ""
	total := 0
	for i := range prof.ServerKills {
		srv := startBin(t, data)
		if admin == "" {
			apiDo(t, srv.url, "", "POST", "/api/auth/signup", map[string]any{"username": "admin", "email": "admin@example.org", "password": "correct horse battery"}, http.StatusCreated, nil)
		}
		var tok struct{ Token string }
		apiDo(t, srv.url, "", "POST", "/api/auth/signin", map[string]any{"username": "admin", "password": "correct horse battery"}, http.StatusOK, &tok)
		admin = tok.Token
		// Everything acknowledged before this start must be there.
		for _, id := range acked {
			apiDo(t, srv.url, admin, "GET", "/api/policies/"+id, nil, http.StatusOK, nil)
		}

		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 10 * time.Second}
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("p-%d-%d-%d", i, w, n), "attributes": map[string]string{"k": "v"}})
					req, _ := http.NewRequest("POST", srv.url+"/api/policies", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+admin)
					resp, err := c.Do(req)
					if err != nil {
						return // the server is gone
					}
					var p struct{ ID string }
					derr := json.NewDecoder(resp.Body).Decode(&p)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated && derr == nil && p.ID != "" {
						mu.Lock()
						acked = append(acked, p.ID)
						total++
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(200+rnd.IntN(800)) * time.Millisecond)
		srv.kill(t)
		close(stop)
		wg.Wait()
	}
	srv := startBin(t, data)
	for _, id := range acked {
		apiDo(t, srv.url, admin, "GET", "/api/policies/"+id, nil, http.StatusOK, nil)
	}
	var v map[string]any
	apiDo(t, srv.url, admin, "GET", "/api/audit/verify", nil, http.StatusOK, &v)
	srv.kill(t)
	t.Logf("%d kills, %d acknowledged policies, all present; audit chain: %v", prof.ServerKills, total, v)
	record(t, "kill -9 of the server during writes", prof.ServerKills, fmt.Sprintf("%d acknowledged creations (8 writers), all present after restart; audit chain verifies", total))
}

// binServer is a "bitnobi serve" process.
type binServer struct {
	url  string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

// startBin starts "bitnobi serve" on data and a free port.
func startBin(t testing.TB, data string) *binServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &binServer{url: "http://" + addr, logs: &bytes.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--data-dir", data, "--listen", addr, "--gc-interval", "0", "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.Env = cleanEnv()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.kill(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/api/version")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited at start: %s", s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start in 30s: %s", s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to end.
func (s *binServer) kill(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// apiDo sends a JSON request and checks the status.
func apiDo(t testing.TB, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, strings.TrimSpace(buf.String()))
	}
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
