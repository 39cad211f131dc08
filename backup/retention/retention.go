// Package retention decides which backups a retention policy keeps, for
// "bitnobi backups prune".
//
// The rules follow restic's "forget" command, which operators already
// know: keep the last N backups, and the newest backup of each of the N
// newest hours, days, ISO weeks, months and years that have backups, plus
// every backup made within a duration of the newest one. A backup is kept
// if any rule keeps it. The package only decides; it removes nothing.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy says which backups to keep. A count of zero or less disables its
// rule, as does a Within of zero or less. Every rule is evaluated on its
// own and the kept sets are united.
type Policy struct {
	// Last keeps the Last newest backups.
	Last int
	// Hourly keeps the newest backup of each of the Hourly newest UTC
	// hours that have a backup.
	Hourly int
	// Daily keeps the newest backup of each of the Daily newest UTC days
	// that have a backup.
	Daily int
	// Weekly keeps the newest backup of each of the Weekly newest ISO 8601
	// weeks (Monday to Sunday, UTC) that have a backup.
	Weekly int
	// Monthly keeps the newest backup of each of the Monthly newest UTC
	// months that have a backup.
	Monthly int
	// Yearly keeps the newest backup of each of the Yearly newest UTC
	// years that have a backup.
	Yearly int
	// Within and WithinMonths keep every backup made less than
	// WithinMonths calendar months plus Within before the newest backup,
	// as restic's --keep-within does: the cutoff is the newest backup's
	// time minus WithinMonths months (time.Time.AddDate, in UTC) minus
	// Within, and a backup exactly at the cutoff is removed. It is
	// measured from the newest backup, not from the current time, so that
	// a server that stopped making backups does not lose them all to the
	// passing of time (restic does the same). [ParseWithin] reads restic's
	// notation ("1y2m3d4h") into both fields.
	Within time.Duration
	// WithinMonths is the calendar-month part of the --keep-within rule
	// (a year is 12 months); see Within.
	WithinMonths int
}

// withinEnabled reports whether p has a --keep-within rule.
func (p Policy) withinEnabled() bool {
	return p.WithinMonths > 0 || p.Within > 0
}

// withinString writes the --keep-within rule for an operator: Go's
// notation ("72h0m0s") when there are no months, else "14 months and 72h0m0s".
func (p Policy) withinString() string {
	switch {
	case p.WithinMonths <= 0:
		return p.Within.String()
	case p.Within <= 0:
		return fmt.Sprintf("%d months", p.WithinMonths)
	default:
		return fmt.Sprintf("%d months and %v", p.WithinMonths, p.Within)
	}
}

// ParseWithin reads a --keep-within duration in restic's notation into
// p.Within and p.WithinMonths: numbers each followed by a unit, y (years),
// m (MONTHS, as in restic, not minutes), w (weeks), d (days) or h
// (hours), largest unit first and each at most once, as in "1y2m3d4h",
// "14d" or "36h". Anything else is refused rather than guessed at, in
// particular Go's "1h30m" (minutes to Go, months to restic), minutes,
// seconds and fractions: the rule decides what a destructive command
// removes.
func ParseWithin(s string) (months int, d time.Duration, err error) {
	const units = "ymwdh"
	bad := func(why string) (int, time.Duration, error) {
		return 0, 0, fmt.Errorf("%q %s; write it as restic does, with whole numbers of y (years), m (months), w (weeks), d (days) and h (hours), largest first, such as 14d, 36h or 1y2m3d4h (m means months, not minutes)", s, why)
	}
	if s == "" {
		return bad("is empty")
	}
	rest, next := s, 0
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("is not a duration")
		}
		if i > 6 {
			return bad("is too large")
		}
		n, _ := strconv.Atoi(rest[:i])
		u := strings.IndexByte(units, rest[i])
		if u < 0 {
			return bad(fmt.Sprintf("has the unit %q", rest[i:i+1]))
		}
		if u < next {
			return bad("has its units out of order or repeated")
		}
		next = u + 1
		switch units[u] {
		case 'y':
			months += 12 * n
		case 'm':
			months += n
		case 'w':
			d += time.Duration(n) * 7 * 24 * time.Hour
		case 'd':
			d += time.Duration(n) * 24 * time.Hour
		case 'h':
			d += time.Duration(n) * time.Hour
		}
		rest = rest[i+1:]
	}
	if months == 0 && d == 0 {
		return bad("is not a positive duration")
	}
	return months, d, nil
}

// Empty reports whether p has no rule enabled. Applying an empty policy
// keeps only the newest backup; "bitnobi backups prune" refuses an empty
// policy rather than remove almost everything by mistake.
func (p Policy) Empty() bool {
	return p.Last <= 0 && p.Hourly <= 0 && p.Daily <= 0 && p.Weekly <= 0 &&
		p.Monthly <= 0 && p.Yearly <= 0 && !p.withinEnabled()
}

// String describes p for an operator, for example
// "keep the last 3, 7 daily, 4 weekly backups and all within 72h0m0s of the newest".
func (p Policy) String() string {
	if p.Empty() {
		return "keep only the newest backup"
	}
	var counts []string
	if p.Last > 0 {
		counts = append(counts, fmt.Sprintf("the last %d", p.Last))
	}
	for _, r := range p.rules() {
		if r.kind != "last" && r.count > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", r.count, r.kind))
		}
	}
	var s string
	if len(counts) > 0 {
		s = strings.Join(counts, ", ") + " backups"
	}
	if p.withinEnabled() {
		if s != "" {
			s += " and "
		}
		s += fmt.Sprintf("all within %s of the newest", p.withinString())
	}
	return "keep " + s
}

// Item is one backup as the policy sees it.
type Item struct {
	// Name identifies the backup, such as "backup-20261125_1400". It
	// breaks ties between equal times (see [Apply]).
	Name string
	// Time is when the backup was made. Its location does not matter:
	// buckets are computed in UTC.
	Time time.Time
}

// Decision is the verdict of [Apply] on one item.
type Decision struct {
	// Item is the backup the decision is about.
	Item Item
	// Keep reports whether the policy keeps the backup.
	Keep bool
	// Reasons lists, for a kept backup, every rule that keeps it, such as
	// "last 3", "daily snapshot 2026-11-25",
	// "within 72h0m0s of the newest" or
	// "newest complete backup (never removed)". It is nil for a removed
	// backup.
	Reasons []string
}

// newestReason is the reason given for the newest item, which Apply
// always keeps.
const newestReason = "newest complete backup (never removed)"

// rule is one bucket rule: items with equal keys fall in one bucket.
type rule struct {
	kind  string // "last", "hourly", ...
	count int
	key   func(t time.Time, i int) int64
	label func(t time.Time) string // the bucket as shown in a reason
}

func (p Policy) rules() []rule {
	return []rule{
		{"last", p.Last, func(_ time.Time, i int) int64 { return int64(i) }, nil},
		{"hourly", p.Hourly,
			func(t time.Time, _ int) int64 {
				y, m, d := t.Date()
				return int64(y)*1000000 + int64(m)*10000 + int64(d)*100 + int64(t.Hour())
			},
			func(t time.Time) string { return t.Format("2006-01-02 15:00") }},
		{"daily", p.Daily,
			func(t time.Time, _ int) int64 { y, m, d := t.Date(); return int64(y)*10000 + int64(m)*100 + int64(d) },
			func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly,
			func(t time.Time, _ int) int64 { y, w := t.ISOWeek(); return int64(y)*100 + int64(w) },
			func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%04d-W%02d", y, w) }},
		{"monthly", p.Monthly,
			func(t time.Time, _ int) int64 { y, m, _ := t.Date(); return int64(y)*100 + int64(m) },
			func(t time.Time) string { return t.Format("2006-01") }},
		{"yearly", p.Yearly,
			func(t time.Time, _ int) int64 { return int64(t.Year()) },
			func(t time.Time) string { return t.Format("2006") }},
	}
}

// Apply decides, for each item, whether p keeps it, and returns one
// [Decision] per item sorted newest first. items may be in any order and
// is not modified.
//
// Items with equal times are ordered by name, the greater name counting as
// the newer: "backup-20261125_1400-1" was made after
// "backup-20261125_1400". The result therefore depends only on the set of
// items, never on their order.
//
// For each bucket rule with count N (Hourly, Daily, Weekly, Monthly,
// Yearly), Apply keeps the newest item of each of the N newest distinct
// UTC buckets that hold an item; Last keeps the N newest items. This is
// restic 0.14's rule (Debian's restic, which the differential test runs).
// Restic 0.16 and later also keep the oldest snapshot when a count rule
// has fewer buckets than its count; Apply deliberately does not: with
// "--keep-daily 7" and three days of backups the rule is simply not yet
// full, and keeping the oldest backup on top would make the first backup
// ever taken survive every prune until the rule fills, which an operator
// reading the rule would not expect. The newest backup is always kept.
//
// Within is measured back from the newest item that is not after now, so
// that one backup with a clock far in the future cannot push every other
// backup out of the window. If every item is after now, or now is the zero
// time, it is measured from the newest item. As in restic, the cutoff is
// strict: an item exactly WithinMonths and Within before is removed.
//
// The newest item is always kept, whatever the policy, even an empty one,
// so a prune can never leave the server without a complete backup. The
// caller should pass only complete backups, those with a manifest.
func Apply(items []Item, p Policy, now time.Time) []Decision {
	if len(items) == 0 {
		return nil
	}
	ds := make([]Decision, len(items))
	for i, it := range items {
		ds[i] = Decision{Item: it}
	}
	slices.SortStableFunc(ds, func(a, b Decision) int {
		if c := b.Item.Time.Compare(a.Item.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.Item.Name, a.Item.Name)
	})

	keep := func(i int, reason string) {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, reason)
	}

	for _, r := range p.rules() {
		if r.count <= 0 {
			continue
		}
		left := r.count
		var last int64
		for i := range ds {
			if left == 0 {
				break
			}
			t := ds[i].Item.Time.UTC()
			k := r.key(t, i)
			if i > 0 && k == last {
				continue // an older item in a bucket already kept
			}
			last = k
			left--
			if r.label == nil {
				keep(i, fmt.Sprintf("%s %d", r.kind, r.count))
			} else {
				keep(i, fmt.Sprintf("%s snapshot %s", r.kind, r.label(t)))
			}
		}
	}

	if p.withinEnabled() {
		ref := ds[0].Item.Time.UTC()
		if !now.IsZero() {
			for _, d := range ds {
				if !d.Item.Time.After(now) {
					ref = d.Item.Time.UTC()
					break
				}
			}
		}
		cutoff := ref.AddDate(0, -max(p.WithinMonths, 0), 0).Add(-max(p.Within, 0))
		for i := range ds {
			if ds[i].Item.Time.After(cutoff) {
				keep(i, fmt.Sprintf("within %s of the newest", p.withinString()))
			}
		}
	}

	keep(0, newestReason)
	return ds
}
