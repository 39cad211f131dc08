package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/web"
)

// pageBackups serves the backups page ([web.BackupService]) the way the
// scheduled backups are run: each action is one of the CLI's commands,
// run as a child process of this binary (see childRunner), so the page
// and the CLI share one code path and the backup folder's lock keeps a
// page backup, a scheduled one and a CLI one from running at once.
type pageBackups struct {
	o   *opsEnv
	now func() time.Time

	mu  sync.Mutex
	job web.BackupJob
}

var _ web.BackupService = (*pageBackups)(nil)

func adminOnly(ctx context.Context) error {
	if !bitnobi.ActorFromContext(ctx).IsAdmin {
		return bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may manage the backups.")
	}
	return nil
}

// exec runs "bitnobi args..." with stdout going to stdout and returns
// the last lines of its stderr (without progress lines) and its exit code
// (-1 when it could not start or was killed).
func (p *pageBackups) exec(ctx context.Context, stdout io.Writer, env []string, onProgress func(string), args ...string) (string, int, error) {
	r := p.o.runner
	cmd := r.command(ctx, append([]string{EnvProgress + "=lines"}, env...), append(args, r.common()...)...)
	cmd.Stdout = stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if pl, ok := strings.CutPrefix(line, "progress: "); ok {
				if onProgress != nil {
					onProgress(pl)
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			tail = append(tail, line)
			if len(tail) > 4 {
				tail = tail[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	msg := strings.Join(tail, " ")
	if err == nil {
		return msg, 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return msg, ee.ExitCode(), fmt.Errorf("bitnobi %s: %w: %s", strings.Join(args[:min(2, len(args))], " "), err, msg)
	}
	return msg, -1, fmt.Errorf("bitnobi %s: %w", strings.Join(args[:min(2, len(args))], " "), err)
}

// ListBackups runs "bitnobi backups list --json" (with --remote and the
// off-site target in the environment for the bucket).
func (p *pageBackups) ListBackups(ctx context.Context, remote bool) ([]web.BackupEntry, error) {
	if err := adminOnly(ctx); err != nil {
		return nil, err
	}
	args := []string{"backups", "list", "--json"}
	var env []string
	if remote {
		set, key, err := p.o.effective(ctx)
		if err != nil {
			return nil, err
		}
		args = append(args, "--remote")
		env = p.o.offsiteEnv(set.Offsite, key)
	}
	var out bytes.Buffer
	msg, code, err := p.exec(ctx, &out, env, nil, args...)
	if err != nil {
		if remote && code > 0 {
			return nil, bitnobi.Errorf(bitnobi.EINVALID, "%s", msg)
		}
		return nil, bitnobi.Errorf(bitnobi.EINTERNAL, "list the backups: %v", err)
	}
	var entries []web.BackupEntry
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
		return nil, fmt.Errorf("read backups list --json: %w", err)
	}
	return entries, nil
}

// StartBackup runs "bitnobi backup" in the background; a backup running
// already (from the page, the schedule or the CLI) is ECONFLICT.
func (p *pageBackups) StartBackup(ctx context.Context) error {
	if err := adminOnly(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.job.Running {
		return bitnobi.Errorf(bitnobi.ECONFLICT, "A backup started from this page is still running: wait for it to finish.")
	}
	p.job = web.BackupJob{Running: true, Started: p.now()}
	actor := bitnobi.ActorFromContext(ctx)
	p.o.logger.Info("backup started from the backups page", "by", actor.Username)
	go p.runJob()
	return nil
}

func (p *pageBackups) runJob() {
	var out bytes.Buffer
	// Not the request's context: the backup outlives the request.
	msg, code, err := p.exec(context.Background(), &out, nil, func(line string) {
		p.mu.Lock()
		p.job.Progress = line
		p.mu.Unlock()
	}, "backup", "--wait", "0")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.job.Running, p.job.Finished = false, p.now()
	switch {
	case code == ExitLocked:
		p.job.Error = "another backup or prune (scheduled, or from the command line) is using the backup folder: try again when it has finished. " + msg
	case err != nil:
		p.job.Error = err.Error()
	default:
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		p.job.Name = filepath.Base(lines[len(lines)-1])
	}
	if p.job.Error != "" {
		p.o.logger.Warn("backup from the backups page failed", "err", p.job.Error)
	}
}

// BackupJob returns the page's backup.
func (p *pageBackups) BackupJob(ctx context.Context) (web.BackupJob, error) {
	if err := adminOnly(ctx); err != nil {
		return web.BackupJob{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.job, nil
}

// exists reports whether name is a backup of the folder.
func (p *pageBackups) exists(name string) error {
	if filepath.Base(name) != name || !strings.HasPrefix(name, backup.Prefix) {
		return bitnobi.Errorf(bitnobi.ENOTFOUND, "There is no backup called %q.", name)
	}
	if _, err := os.Stat(filepath.Join(p.o.folder, name, "manifest.json")); err != nil {
		return bitnobi.Errorf(bitnobi.ENOTFOUND, "There is no backup called %s in the backup folder: the page lists them.", name)
	}
	return nil
}

// VerifyBackup runs "bitnobi backups verify NAME".
func (p *pageBackups) VerifyBackup(ctx context.Context, name string) error {
	if err := adminOnly(ctx); err != nil {
		return err
	}
	if err := p.exists(name); err != nil {
		return err
	}
	msg, code, err := p.exec(ctx, io.Discard, nil, nil, "backups", "verify", "--quiet", name)
	switch {
	case err == nil:
		return nil
	case code == ExitVerify:
		return bitnobi.Errorf(bitnobi.EINVALID, "%s", msg)
	case code == ExitLocked:
		return bitnobi.Errorf(bitnobi.ECONFLICT, "The backup folder is busy: try again when the running backup has finished.")
	}
	return bitnobi.Errorf(bitnobi.EINTERNAL, "verify %s: %v", name, err)
}

// audit records action on backup name in the audit log.
func (p *pageBackups) audit(ctx context.Context, action, name string) error {
	return p.o.a.DB.WriteTx(ctx, func(tx *store.Tx) error {
		return tx.Audit(ctx, action, "backup", name, map[string]any{"folder": p.o.folder})
	})
}

// ExportBackup records the download, then streams "bitnobi backups
// export NAME -" to w.
func (p *pageBackups) ExportBackup(ctx context.Context, name string, w io.Writer) error {
	if err := adminOnly(ctx); err != nil {
		return err
	}
	if err := p.exists(name); err != nil {
		return err
	}
	if err := p.audit(ctx, bitnobi.ActionBackupDownload, name); err != nil {
		return err
	}
	_, _, err := p.exec(ctx, w, nil, nil, "backups", "export", name, "-")
	return err
}

// DeleteBackup runs "bitnobi backups delete NAME", then records it.
func (p *pageBackups) DeleteBackup(ctx context.Context, name string) error {
	if err := adminOnly(ctx); err != nil {
		return err
	}
	if err := p.exists(name); err != nil {
		return err
	}
	_, code, err := p.exec(ctx, io.Discard, nil, nil, "backups", "delete", name)
	switch {
	case code == ExitLocked:
		return bitnobi.Errorf(bitnobi.ECONFLICT, "The backup folder is busy: try again when the running backup has finished.")
	case err != nil:
		return bitnobi.Errorf(bitnobi.EINTERNAL, "delete %s: %v", name, err)
	}
	return p.audit(ctx, bitnobi.ActionBackupDelete, name)
}
