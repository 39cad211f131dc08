package schedule_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/schedule"
)

func TestParse(t *testing.T) {
	from := time.Date(2026, 12, 5, 23, 59, 30, 0, time.UTC) // a Saturday
	for _, tt := range []struct {
		in, cron string
		next     time.Time
	}{
		{"daily at 02:15", "15 2 * * *", time.Date(2026, 12, 6, 2, 15, 0, 0, time.UTC)},
		{"Daily at 2:15 UTC", "15 2 * * *", time.Date(2026, 12, 6, 2, 15, 0, 0, time.UTC)},
		{"hourly at :30", "30 * * * *", time.Date(2026, 12, 6, 0, 30, 0, 0, time.UTC)},
		{"weekly on sunday at 05:00", "0 5 * * 0", time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)},
		{"monthly on day 1 at 05:30", "30 5 1 * *", time.Date(2027, 1, 1, 5, 30, 0, 0, time.UTC)},
		{"15 2 * * *", "15 2 * * *", time.Date(2026, 12, 6, 2, 15, 0, 0, time.UTC)},
		{"*/20 * * * *", "*/20 * * * *", time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{"@daily", "0 0 * * *", time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tt.in, func(t *testing.T) {
			s, err := schedule.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Cron(); got != tt.cron {
				t.Errorf("Cron()=%q, want %q", got, tt.cron)
			}
			if got := s.Next(from); !got.Equal(tt.next) {
				t.Errorf("Next(%v)=%v, want %v", from, got, tt.next)
			}
			if got := s.Prev(tt.next); !got.Equal(tt.next) {
				t.Errorf("Prev(%v)=%v, want itself", tt.next, got)
			}
		})
	}
	for _, bad := range []string{"", "daily at 25:00", "monthly on day 31 at 01:00", "sometimes", "* * * *", "0 0 0 * * * *", "61 * * * *"} {
		t.Run("Bad/"+bad, func(t *testing.T) {
			if _, err := schedule.Parse(bad); err == nil {
				t.Fatalf("Parse(%q) succeeded", bad)
			}
		})
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// folder stands for the backup folder: the runner adds backups to it.
type runner struct {
	clock    *clock
	calls    []string
	backups  []time.Time
	failNext error
}

func (r *runner) Backup(ctx context.Context) (string, int64, error) {
	r.calls = append(r.calls, "backup")
	if err := r.failNext; err != nil {
		r.failNext = nil
		return "", 0, err
	}
	r.backups = append(r.backups, r.clock.Now())
	r.clock.Set(r.clock.Now().Add(2 * time.Minute)) // a backup takes time
	return bitnobiName(r.clock.Now()), 1234, nil
}
func bitnobiName(t time.Time) string { return "backup-" + t.Format("20060102_1504") }
func (r *runner) Prune(ctx context.Context, p bitnobi.Retention) error {
	r.calls = append(r.calls, "prune")
	return nil
}
func (r *runner) Offsite(ctx context.Context, name string, _ bitnobi.OffsiteTarget) error {
	r.calls = append(r.calls, "offsite "+name)
	return nil
}
func (r *runner) Verify(ctx context.Context) error {
	r.calls = append(r.calls, "verify")
	return nil
}
func (r *runner) VerifyDeep(ctx context.Context, name string) error {
	r.calls = append(r.calls, "deep "+name)
	return nil
}
func (r *runner) lastGood() (string, time.Time, error) {
	if len(r.backups) == 0 {
		return "", time.Time{}, nil
	}
	t := r.backups[len(r.backups)-1]
	return bitnobiName(t), t, nil
}

// TestScheduler steps through days on an injected clock: the missed run at
// start-up (once), the nightly run, retention after it, the weekly
// verification, a failure that mails once per incident and clears, and the
// no-recent-backup alert.
func TestScheduler(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)} // Saturday
	r := &runner{clock: c}
	// The last backup was two days ago: the server was down at 02:15.
	r.backups = []time.Time{time.Date(2026, 12, 3, 2, 15, 0, 0, time.UTC)}
	set := bitnobi.DefaultBackupSettings()
	var mails []bitnobi.Warning
	reg := prometheus.NewRegistry()
	s := &schedule.Scheduler{
		Now:      c.Now,
		Settings: func(context.Context) (bitnobi.BackupSettings, error) { return set, nil },
		Runner:   r,
		LastGood: r.lastGood,
		Notify: func(_ context.Context, w bitnobi.Warning) error {
			mails = append(mails, w)
			return nil
		},
		Metrics: schedule.NewMetrics(reg),
	}
	s.Start(ctx)
	next := s.Step(ctx)
	if got, want := strings.Join(r.calls, ","), "backup,prune"; got != want {
		t.Fatalf("start-up ran %q, want %q (the missed run, once)", got, want)
	}
	if want := time.Date(2026, 12, 6, 2, 15, 0, 0, time.UTC); !next.Equal(want) {
		t.Fatalf("next step at %v, want %v", next, want)
	}
	r.calls = nil

	// Stepping again before it is due runs nothing.
	c.Set(time.Date(2026, 12, 6, 2, 14, 0, 0, time.UTC))
	s.Step(ctx)
	if len(r.calls) != 0 {
		t.Fatalf("ran %v before it was due", r.calls)
	}
	// At 02:15 the backup; at 05:00 on Sunday the verification.
	c.Set(time.Date(2026, 12, 6, 2, 15, 0, 0, time.UTC))
	next = s.Step(ctx)
	c.Set(next)
	s.Step(ctx)
	if got, want := strings.Join(r.calls, ","), "backup,prune,verify"; got != want {
		t.Fatalf("Sunday ran %q, want %q", got, want)
	}
	r.calls = nil

	// A failed backup opens one incident, mailed once, however often the
	// backup fails; a success closes it.
	for day := 7; day <= 8; day++ {
		r.failNext = errors.New("disk full")
		c.Set(time.Date(2026, 12, day, 2, 15, 0, 0, time.UTC))
		s.Step(ctx)
	}
	// By the second failure the newest good backup is over 26 hours old:
	// a second incident.
	if len(mails) != 2 || mails[0].Kind != schedule.WarnBackupFailed || !strings.Contains(mails[0].Message, "disk full") || mails[1].Kind != schedule.WarnNoRecentBackup {
		t.Fatalf("mails %+v, want one backup_failed, one no_recent_backup", mails)
	}
	if got := counter(t, reg, "bitnobi_scheduled_failures_total", "backup"); got != 2 {
		t.Errorf("failure counter %v, want 2", got)
	}
	ws := s.Warnings()
	if len(ws) != 2 || ws[0].Kind != schedule.WarnBackupFailed || ws[1].Kind != schedule.WarnNoRecentBackup || !ws[0].Mailed {
		t.Fatalf("warnings %+v, want backup_failed (mailed) then no_recent_backup", ws)
	}
	c.Set(time.Date(2026, 12, 9, 2, 15, 0, 0, time.UTC))
	s.Step(ctx)
	if ws := s.Warnings(); len(ws) != 0 {
		t.Fatalf("warnings after a good backup: %+v", ws)
	}
	if len(mails) != 2 {
		t.Fatalf("%d mails, want still 2 (one per incident)", len(mails))
	}

	// Turned off, nothing runs and no alert is raised.
	set.Enabled = false
	r.calls = nil
	c.Set(time.Date(2026, 12, 20, 2, 15, 0, 0, time.UTC))
	if next := s.Step(ctx); !next.IsZero() || len(r.calls) != 0 || len(s.Warnings()) != 0 {
		t.Fatalf("disabled: next %v, calls %v, warnings %v", next, r.calls, s.Warnings())
	}
}

// TestSchedulerNoMissedRun: a server started after a backup that ran on
// time does not back up again at start-up.
func TestSchedulerNoMissedRun(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	r := &runner{clock: c, backups: []time.Time{time.Date(2026, 12, 5, 2, 16, 0, 0, time.UTC)}}
	set := bitnobi.DefaultBackupSettings()
	s := &schedule.Scheduler{Now: c.Now, Runner: r, LastGood: r.lastGood,
		Settings: func(context.Context) (bitnobi.BackupSettings, error) { return set, nil }}
	s.Start(ctx)
	s.Step(ctx)
	if len(r.calls) != 0 {
		t.Fatalf("start-up ran %v, want nothing", r.calls)
	}
	if got, want := s.Next(schedule.TaskBackup), time.Date(2026, 12, 6, 2, 15, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next backup %v, want %v", got, want)
	}
}

// counter returns the value of the metric name labelled task=task in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, task string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "task" && l.GetValue() == task {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{task=%q}", name, task)
	return 0
}

// TestSchedulerFreshInstall: no backup at all is no missed run, and the
// alert counts from start-up, not from the beginning of time.
func TestSchedulerFreshInstall(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	r := &runner{clock: c}
	set := bitnobi.DefaultBackupSettings()
	set.Schedule = "weekly on monday at 02:00" // the first run is 2 days away
	s := &schedule.Scheduler{Now: c.Now, Runner: r, LastGood: r.lastGood,
		Settings: func(context.Context) (bitnobi.BackupSettings, error) { return set, nil }}
	s.Start(ctx)
	s.Step(ctx)
	if len(r.calls) != 0 || len(s.Warnings()) != 0 {
		t.Fatalf("fresh start: calls %v, warnings %v; want none", r.calls, s.Warnings())
	}
	c.Set(c.Now().Add(26 * time.Hour))
	s.Step(ctx)
	if ws := s.Warnings(); len(ws) != 1 || ws[0].Kind != schedule.WarnNoRecentBackup {
		t.Fatalf("26 hours without a backup: warnings %+v", ws)
	}
}
