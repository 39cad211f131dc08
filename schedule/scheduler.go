package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
)

// Task is one kind of scheduled work.
type Task string

// The tasks, as metrics and logs name them.
const (
	TaskBackup     Task = "backup"      // bitnobi backup, then prune and the off-site copy
	TaskOffsite    Task = "offsite"     // the off-site copy after a backup
	TaskVerify     Task = "verify"      // bitnobi backups verify --all
	TaskDeepVerify Task = "deep_verify" // bitnobi backups verify --deep NEWEST
)

// Warning kinds ([bitnobi.Warning.Kind]).
const (
	WarnBackupFailed   = "backup_failed"
	WarnOffsiteFailed  = "offsite_failed"
	WarnVerifyFailed   = "verify_failed"
	WarnNoRecentBackup = "no_recent_backup"
)

// ErrBusy is returned by a [Runner] whose task found the backup folder
// locked by another backup or prune (a CLI one, say) and gave up waiting:
// the run is skipped, not failed.
var ErrBusy = errors.New("the backup folder is locked by another backup or prune")

// Runner does the scheduled work. Its methods run one at a time.
type Runner interface {
	// Backup writes a backup and returns its name.
	Backup(ctx context.Context) (name string, size int64, err error)
	// Prune applies a retention policy, which is never empty.
	Prune(ctx context.Context, r bitnobi.Retention) error
	// Offsite copies the backup name to the off-site target; it is
	// called only when one is configured.
	Offsite(ctx context.Context, name string, target bitnobi.OffsiteTarget) error
	// Verify re-reads every backup of the folder.
	Verify(ctx context.Context) error
	// VerifyDeep restores the backup name trially.
	VerifyDeep(ctx context.Context, name string) error
}

// Scheduler runs the backups, retention, off-site copies and verifications
// of the settings, one task at a time, and keeps the warnings. Set the
// fields, then call [Scheduler.Run]; tests call [Scheduler.Start] and
// [Scheduler.Step] with their own clock instead.
type Scheduler struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Settings returns the settings in force (stored, with the serve
	// flags' overrides), read before each step.
	Settings func(ctx context.Context) (bitnobi.BackupSettings, error)
	Runner   Runner
	// LastGood returns the newest complete backup whose last verification,
	// if any, passed (zero time if none): from the backup folder, so that
	// CLI backups count too.
	LastGood func() (name string, at time.Time, err error)
	// Notify tells every administrator about a new incident (by e-mail).
	// It is called once per incident; an error is logged.
	Notify func(ctx context.Context, w bitnobi.Warning) error
	// Metrics, if set, records outcomes.
	Metrics *Metrics
	Logger  *slog.Logger

	mu       sync.Mutex
	started  time.Time // by Start: the age of "no backup at all"
	warnings map[string]*bitnobi.Warning
	next     map[Task]time.Time
	specs    map[Task]string // the schedule text next was computed from
	wake     chan struct{}
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Wake makes a running scheduler read its settings again at once: call it
// after they change.
func (s *Scheduler) Wake() {
	s.mu.Lock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	ch := s.wake
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Warnings returns the open incidents, oldest first.
func (s *Scheduler) Warnings() []bitnobi.Warning {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bitnobi.Warning, 0, len(s.warnings))
	for _, w := range s.warnings {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Run runs the schedule until ctx ends: [Scheduler.Start], then steps at
// each due time, and whenever [Scheduler.Wake] is called.
func (s *Scheduler) Run(ctx context.Context) error {
	s.Wake() // creates the channel
	<-s.wake
	s.Start(ctx)
	for {
		next := s.Step(ctx)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(s.now()), time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Start computes the first due times and runs, once, a backup that was
// missed while the server was down: when the newest good backup is older
// than the last time the schedule should have run. A folder with no
// backup at all (a fresh installation) missed nothing.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	s.next, s.specs = map[Task]time.Time{}, map[Task]string{}
	s.started = s.now()
	if s.warnings == nil {
		s.warnings = map[string]*bitnobi.Warning{}
	}
	s.mu.Unlock()
	set, err := s.settings(ctx)
	if err != nil || !set.Enabled {
		return
	}
	now := s.now()
	spec, err := Parse(set.Schedule)
	if err != nil {
		return // reported by Step
	}
	_, last, err := s.LastGood()
	if err != nil {
		s.logger().Warn("scheduled backup: read the backup folder", "err", err)
		return
	}
	// With no backup at all (a fresh installation) nothing was missed:
	// the first runs at its time, and the alert counts from start-up.
	if prev := spec.Prev(now); !prev.IsZero() && !last.IsZero() && last.Before(prev) {
		s.logger().Info("scheduled backup: the run of "+prev.Format("2006-01-02 15:04 UTC")+" was missed, running it now", "newest_good_backup", fmtTime(last))
		s.mu.Lock()
		s.next[TaskBackup], s.specs[TaskBackup] = now, set.Schedule
		s.mu.Unlock()
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Format(time.RFC3339)
}

func (s *Scheduler) settings(ctx context.Context) (bitnobi.BackupSettings, error) {
	set, err := s.Settings(ctx)
	if err != nil {
		s.logger().Error("scheduled backup: read the settings", "err", err)
	}
	return set, err
}

// Step runs every task that is due at Now, one after the other, checks
// the age of the newest good backup, and returns when it next has
// something to do (zero: nothing scheduled).
func (s *Scheduler) Step(ctx context.Context) time.Time {
	set, err := s.settings(ctx)
	if err != nil {
		return time.Time{}
	}
	if s.warnings == nil {
		s.mu.Lock()
		s.warnings, s.next, s.specs = map[string]*bitnobi.Warning{}, map[Task]time.Time{}, map[Task]string{}
		s.mu.Unlock()
	}
	if !set.Enabled {
		s.mu.Lock()
		clear(s.next)
		clear(s.specs)
		s.mu.Unlock()
		s.clear(WarnNoRecentBackup)
		return time.Time{}
	}
	schedules := map[Task]string{TaskBackup: set.Schedule, TaskVerify: set.VerifySchedule, TaskDeepVerify: set.DeepVerifySchedule}
	for _, task := range []Task{TaskBackup, TaskVerify, TaskDeepVerify} {
		if ctx.Err() != nil {
			return time.Time{}
		}
		text := schedules[task]
		s.mu.Lock()
		due, known := s.next[task], s.specs[task] == text
		s.mu.Unlock()
		if text == "" {
			continue
		}
		spec, err := Parse(text)
		if err != nil {
			s.logger().Error("scheduled "+string(task)+": bad schedule, not running it", "err", err)
			continue
		}
		now := s.now()
		if known && !due.IsZero() && !now.Before(due) {
			s.runTask(ctx, task, set)
			now = s.now()
		}
		if !known || !now.Before(due) {
			s.mu.Lock()
			s.next[task], s.specs[task] = spec.Next(now), text
			s.mu.Unlock()
		}
	}
	next := s.checkAge(ctx, set)
	s.mu.Lock()
	for _, t := range s.next {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	s.mu.Unlock()
	return next
}

// Next returns when task is next due (zero: not scheduled).
func (s *Scheduler) Next(task Task) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next[task]
}

// checkAge raises or clears the no-recent-backup warning and returns when
// it will next need checking (zero: not before a backup).
func (s *Scheduler) checkAge(ctx context.Context, set bitnobi.BackupSettings) time.Time {
	name, last, err := s.LastGood()
	if err != nil {
		s.logger().Warn("scheduled backup: read the backup folder", "err", err)
		return time.Time{}
	}
	if s.Metrics != nil && !last.IsZero() {
		s.Metrics.lastGood(last)
	}
	if set.AlertAfterHours <= 0 {
		s.clear(WarnNoRecentBackup)
		return time.Time{}
	}
	limit := time.Duration(set.AlertAfterHours) * time.Hour
	now := s.now()
	ref := last
	if ref.IsZero() {
		s.mu.Lock()
		ref = s.started
		s.mu.Unlock()
	}
	if now.Sub(ref) >= limit {
		msg := fmt.Sprintf("No good backup is younger than %d hours: the newest is %s (%s).", set.AlertAfterHours, name, fmtTime(last))
		if last.IsZero() {
			msg = fmt.Sprintf("There is no good backup in the backup folder, %d hours after the server started.", set.AlertAfterHours)
		}
		s.raise(ctx, WarnNoRecentBackup, msg+" Check the server's log, then run \"bitnobi backup\".")
		return time.Time{}
	}
	s.clear(WarnNoRecentBackup)
	return ref.Add(limit)
}

// runTask runs one due task and records its outcome.
func (s *Scheduler) runTask(ctx context.Context, task Task, set bitnobi.BackupSettings) {
	log := s.logger().With("task", string(task))
	start := s.now()
	var err error
	switch task {
	case TaskBackup:
		var name string
		var size int64
		log.Info("scheduled backup: starting")
		name, size, err = s.Runner.Backup(ctx)
		if s.done(ctx, log, task, WarnBackupFailed, start, size, err) {
			return
		}
		log.Info("scheduled backup: done", "backup", name, "duration", s.now().Sub(start).Round(time.Millisecond))
		if !set.Retention.Empty() {
			if err := s.Runner.Prune(ctx, set.Retention); err != nil && ctx.Err() == nil {
				// The backup is good; a prune that failed (or found the
				// folder locked) is tried again after the next backup.
				log.Warn("scheduled prune failed", "err", err)
			}
		}
		if set.Offsite.Configured() {
			start := s.now()
			err := s.Runner.Offsite(ctx, name, set.Offsite)
			s.done(ctx, log, TaskOffsite, WarnOffsiteFailed, start, 0, err)
		}
	case TaskVerify:
		log.Info("scheduled verification of every backup: starting")
		err = s.Runner.Verify(ctx)
		s.done(ctx, log, task, WarnVerifyFailed, start, 0, err)
	case TaskDeepVerify:
		name, _, lerr := s.LastGood()
		if lerr != nil || name == "" {
			log.Warn("scheduled deep verification: no backup to verify", "err", lerr)
			return
		}
		log.Info("scheduled deep verification: starting", "backup", name)
		err = s.Runner.VerifyDeep(ctx, name)
		s.done(ctx, log, task, WarnVerifyFailed, start, 0, err)
	}
}

// done records a task's outcome; it reports whether the task did not
// succeed.
func (s *Scheduler) done(ctx context.Context, log *slog.Logger, task Task, kind string, start time.Time, size int64, err error) bool {
	d := s.now().Sub(start)
	switch {
	case err == nil:
		if s.Metrics != nil {
			s.Metrics.success(task, s.now(), d, size)
		}
		// A deep verification's success does not clear a failed --all.
		if task != TaskDeepVerify {
			s.clear(kind)
		}
		return false
	case ctx.Err() != nil:
		log.Info("scheduled "+string(task)+": stopped with the server", "err", err)
	case errors.Is(err, ErrBusy):
		log.Warn("scheduled "+string(task)+": skipped, another backup or prune held the backup folder's lock for too long", "err", err)
	default:
		log.Error("scheduled "+string(task)+" failed", "err", err, "duration", d.Round(time.Millisecond))
		if s.Metrics != nil {
			s.Metrics.failure(task)
		}
		what := map[Task]string{TaskBackup: "The scheduled backup", TaskOffsite: "The off-site copy of the scheduled backup", TaskVerify: "The scheduled verification of every backup", TaskDeepVerify: "The scheduled trial restore of the newest backup"}[task]
		s.raise(ctx, kind, fmt.Sprintf("%s failed at %s: %v", what, start.Format("2006-01-02 15:04 UTC"), err))
	}
	return true
}

// raise opens an incident of kind, notifying the administrators if it is
// new; an open one keeps its first message and time.
func (s *Scheduler) raise(ctx context.Context, kind, msg string) {
	s.mu.Lock()
	if _, open := s.warnings[kind]; open {
		s.mu.Unlock()
		return
	}
	w := &bitnobi.Warning{Kind: kind, Message: msg, Since: s.now()}
	s.warnings[kind] = w
	s.mu.Unlock()
	s.logger().Warn("incident opened", "kind", kind, "message", msg)
	if s.Notify == nil {
		return
	}
	if err := s.Notify(ctx, *w); err != nil {
		s.logger().Error("e-mail the administrators", "kind", kind, "err", err)
		return
	}
	s.mu.Lock()
	w.Mailed = true
	s.mu.Unlock()
}

// clear closes the incident of kind, if open.
func (s *Scheduler) clear(kind string) {
	s.mu.Lock()
	_, open := s.warnings[kind]
	delete(s.warnings, kind)
	s.mu.Unlock()
	if open {
		s.logger().Info("incident closed", "kind", kind)
	}
}
