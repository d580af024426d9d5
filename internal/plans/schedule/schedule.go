// Package schedule parses the schedule expressions of AWS Backup plan
// rules and computes their runs.
//
// Two forms are accepted, as AWS Backup (and EventBridge) write them:
//
//	cron(Minutes Hours Day-of-month Month Day-of-week Year)
//	rate(Value Unit)     Unit: minute(s), hour(s), day(s)
//
// The cron fields:
//
//	Minutes       0-59             , - * /
//	Hours         0-23             , - * /
//	Day-of-month  1-31             , - * ? / L W
//	Month         1-12 or JAN-DEC  , - * /
//	Day-of-week   1-7 or SUN-SAT   , - * ? L #      (1 is Sunday)
//	Year          1970-2199        , - * /
//
// One of Day-of-month and Day-of-week must be '?'. L in Day-of-month is
// the month's last day (L-N: N days before it), NW the weekday nearest
// the Nth, LW the last weekday; in Day-of-week, NL is the month's last
// day N and N#K its Kth day N. A cron expression is evaluated in the
// rule's time zone (ScheduleExpressionTimezone, UTC by default).
//
// A rate is anchored at the Unix epoch in UTC: rate(1 hour) runs on every
// hour, rate(12 hours) at 00:00 and 12:00 UTC, rate(1 day) at midnight
// UTC. Anchoring at a fixed instant rather than at the plan's creation
// makes every node compute the same windows.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones even on hosts without /usr/share/zoneinfo
)

// Schedule yields the start times of a rule's windows.
type Schedule interface {
	// Next returns the first run strictly after t, or the zero time when
	// there is none (a cron whose years have passed).
	Next(t time.Time) time.Time
	// String is the expression it was parsed from.
	String() string
	// MinInterval is the shortest possible time between two runs (an
	// estimate for crons, exact for rates).
	MinInterval() time.Duration
}

// Error is a malformed expression; its message says what is wrong.
type Error struct {
	Expr, Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("schedule expression %q: %s", e.Expr, e.Msg) }

// Parse parses a cron(...) or rate(...) expression; loc is the time zone
// of a cron (nil for UTC).
func Parse(expr string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	e := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(e, "cron(") && strings.HasSuffix(e, ")"):
		return parseCron(expr, e[len("cron("):len(e)-1], loc)
	case strings.HasPrefix(e, "rate(") && strings.HasSuffix(e, ")"):
		return parseRate(expr, e[len("rate("):len(e)-1])
	}
	return nil, &Error{expr, "must be cron(Minutes Hours Day-of-month Month Day-of-week Year) or rate(Value Unit)"}
}

// LoadLocation resolves a ScheduleExpressionTimezone ("" is UTC).
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name such as UTC or America/New_York", name)
	}
	return loc, nil
}

// Between returns the runs in (after, through], at most limit of them
// (the latest ones when there are more).
func Between(s Schedule, after, through time.Time, limit int) []time.Time {
	var out []time.Time
	for t := s.Next(after); !t.IsZero() && !t.After(through); t = s.Next(t) {
		out = append(out, t)
		if len(out) > limit {
			out = out[1:]
		}
	}
	return out
}

// Prev returns the last run at or before t, looking back at most
// lookback; zero when there is none in that span.
func Prev(s Schedule, t time.Time, lookback time.Duration) time.Time {
	var last time.Time
	for r := s.Next(t.Add(-lookback)); !r.IsZero() && !r.After(t); r = s.Next(r) {
		last = r
	}
	return last
}

type rate struct {
	expr  string
	every time.Duration
}

func parseRate(expr, body string) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, &Error{expr, "a rate is rate(Value Unit), e.g. rate(12 hours)"}
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return nil, &Error{expr, fmt.Sprintf("the value %q must be a positive whole number", f[0])}
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit, plural := f[1], strings.HasSuffix(f[1], "s")
	d, ok := units[strings.TrimSuffix(unit, "s")]
	if !ok {
		return nil, &Error{expr, fmt.Sprintf("the unit %q must be minute(s), hour(s) or day(s)", unit)}
	}
	if (n == 1) == plural {
		want := strings.TrimSuffix(unit, "s")
		if n != 1 {
			want += "s"
		}
		return nil, &Error{expr, fmt.Sprintf("with the value %d the unit is %q", n, want)}
	}
	return &rate{expr: expr, every: time.Duration(n) * d}, nil
}

func (r *rate) Next(t time.Time) time.Time {
	// The largest multiple of every at or before t, plus every.
	ns := t.UnixNano()
	step := r.every.Nanoseconds()
	k := ns / step
	if ns < 0 && ns%step != 0 {
		k--
	}
	return time.Unix(0, (k+1)*step).UTC()
}

func (r *rate) String() string             { return r.expr }
func (r *rate) MinInterval() time.Duration { return r.every }
