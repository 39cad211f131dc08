// Package schedule runs the backups, retention and verifications that
// "bitnobi serve" does itself (issue 14), and keeps the warnings an
// administrator should see when they fail.
//
// A schedule is written as an operator says it ("daily at 02:15",
// "weekly on sunday at 05:00", "monthly on day 1 at 05:30", "hourly at
// :30") or as a five-field cron expression ("15 2 * * *"), always in UTC.
// The friendly forms are rewritten to cron expressions, and every cron
// expression is parsed and stepped by github.com/adhocore/gronx (see the
// README for why that library). The [Scheduler] takes its clock from
// Now, so tests step through days without waiting.
package schedule

import (
	"fmt"
	"github.com/bitnobi/bitnobi/backup/retention"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/adhocore/gronx"
)

// Spec is a parsed schedule.
type Spec struct {
	text string // as given
	expr string // cron expression
}

// String returns the schedule as given.
func (s Spec) String() string { return s.text }

// Cron returns the schedule as a five-field cron expression.
func (s Spec) Cron() string { return s.expr }

var (
	hhmm     = `([01]?\d|2[0-3]):([0-5]\d)`
	dailyRE  = regexp.MustCompile(`^daily at ` + hhmm + `$`)
	hourlyRE = regexp.MustCompile(`^hourly at :([0-5]\d)$`)
	weeklyRE = regexp.MustCompile(`^weekly on (monday|tuesday|wednesday|thursday|friday|saturday|sunday) at ` + hhmm + `$`)
	monthRE  = regexp.MustCompile(`^monthly on day ([1-9]|1\d|2[0-8]) at ` + hhmm + `$`)
	weekdays = map[string]int{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}
)

// Parse parses a schedule: "daily at HH:MM", "hourly at :MM", "weekly on
// DAY at HH:MM", "monthly on day N at HH:MM" (N at most 28, so every month
// has it), each optionally followed by "UTC", or a five-field cron
// expression in UTC (also @hourly, @daily, @weekly, @monthly).
func Parse(text string) (Spec, error) {
	s := strings.Join(strings.Fields(strings.ToLower(text)), " ")
	s = strings.TrimSuffix(s, " utc")
	num := func(x string) int { n, _ := strconv.Atoi(x); return n }
	var expr string
	if m := dailyRE.FindStringSubmatch(s); m != nil {
		expr = fmt.Sprintf("%d %d * * *", num(m[2]), num(m[1]))
	} else if m := hourlyRE.FindStringSubmatch(s); m != nil {
		expr = fmt.Sprintf("%d * * * *", num(m[1]))
	} else if m := weeklyRE.FindStringSubmatch(s); m != nil {
		expr = fmt.Sprintf("%d %d * * %d", num(m[3]), num(m[2]), weekdays[m[1]])
	} else if m := monthRE.FindStringSubmatch(s); m != nil {
		expr = fmt.Sprintf("%d %d %d * *", num(m[3]), num(m[2]), num(m[1]))
	} else {
		expr = s
		if strings.HasPrefix(expr, "@") {
			expr = map[string]string{"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}[expr]
		}
		// Five fields only: gronx also takes a sixth (seconds) and a
		// seventh (year), which a backup schedule has no use for.
		if len(strings.Fields(expr)) != 5 || !gronx.IsValid(expr) {
			return Spec{}, fmt.Errorf("schedule %q: not \"daily at 02:15\", \"weekly on sunday at 05:00\", \"monthly on day 1 at 05:30\", \"hourly at :30\" nor a five-field cron expression such as \"15 2 * * *\"", text)
		}
	}
	if _, err := gronx.NextTickAfter(expr, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), false); err != nil {
		return Spec{}, fmt.Errorf("schedule %q never runs: %w", text, err)
	}
	return Spec{text: strings.TrimSpace(text), expr: expr}, nil
}

// Next returns the first time after t (to the minute) the schedule runs.
func (s Spec) Next(t time.Time) time.Time {
	n, err := gronx.NextTickAfter(s.expr, t.UTC().Truncate(time.Minute), false)
	if err != nil {
		return time.Time{}
	}
	return n.UTC()
}

// Prev returns the last time at or before t the schedule ran (zero if it
// cannot be found).
func (s Spec) Prev(t time.Time) time.Time {
	p, err := gronx.PrevTickBefore(s.expr, t.UTC().Truncate(time.Minute), true)
	if err != nil {
		return time.Time{}
	}
	return p.UTC()
}

// ValidWithin checks a --keep-within duration in the units and with the
// meaning of "bitnobi backups prune" (restic's: y, m for months, w, d, h),
// which is what a scheduled prune is run with.
func ValidWithin(s string) error {
	_, _, err := retention.ParseWithin(s)
	return err
}
