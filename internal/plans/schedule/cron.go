package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	minYear = 1970
	maxYear = 2199
)

// cron is a parsed six-field AWS cron expression.
type cron struct {
	expr                 string
	loc                  *time.Location
	minutes, hours       []bool // indexed by value
	months               []bool // 1-12
	years                []bool // index year-minYear
	dom, dow             dayField
	domAny, dowAny       bool // the field is '?'
	minuteList, hourList []int
}

// dayField is a Day-of-month or Day-of-week field: plain values plus the
// special forms.
type dayField struct {
	values []bool // 1-31 or 1-7
	// Day-of-month.
	lastOffsets    []int // L (0) and L-N (N)
	lastWeekday    bool  // LW
	nearestWeekday []int // NW
	// Day-of-week.
	lastOf []int    // NL: the last day N of the month
	nth    [][2]int // N#K: the Kth day N
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

func parseCron(expr, body string, loc *time.Location) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, &Error{expr, fmt.Sprintf("a cron expression has 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), not %d", len(f))}
	}
	c := &cron{expr: expr, loc: loc}
	bad := func(field string, err error) error {
		return &Error{expr, fmt.Sprintf("%s field %s", field, err)}
	}
	var err error
	if c.minutes, err = parseField(f[0], 0, 59, nil); err != nil {
		return nil, bad("Minutes", err)
	}
	if c.hours, err = parseField(f[1], 0, 23, nil); err != nil {
		return nil, bad("Hours", err)
	}
	if c.months, err = parseField(f[3], 1, 12, monthNames); err != nil {
		return nil, bad("Month", err)
	}
	if c.years, err = parseField(f[5], minYear, maxYear, nil); err != nil {
		return nil, bad("Year", err)
	}
	c.domAny, c.dowAny = f[2] == "?", f[4] == "?"
	switch {
	case c.domAny && c.dowAny:
		return nil, &Error{expr, "only one of Day-of-month and Day-of-week may be '?'"}
	case !c.domAny && !c.dowAny:
		return nil, &Error{expr, "one of Day-of-month and Day-of-week must be '?': they cannot both be given"}
	}
	if !c.domAny {
		if c.dom, err = parseDOM(f[2]); err != nil {
			return nil, bad("Day-of-month", err)
		}
	}
	if !c.dowAny {
		if c.dow, err = parseDOW(f[4]); err != nil {
			return nil, bad("Day-of-week", err)
		}
	}
	c.minuteList, c.hourList = members(c.minutes, 0), members(c.hours, 0)
	return c, nil
}

func members(set []bool, base int) []int {
	var out []int
	for i, ok := range set {
		if ok {
			out = append(out, base+i)
		}
	}
	return out
}

// parseField parses a list of *, N, N-M, */S, N/S and N-M/S items.
func parseField(s string, lo, hi int, names map[string]int) ([]bool, error) {
	set := make([]bool, hi-lo+1)
	for _, item := range strings.Split(s, ",") {
		if err := addItem(set, item, lo, hi, names); err != nil {
			return nil, err
		}
	}
	return set, nil
}

func addItem(set []bool, item string, lo, hi int, names map[string]int) error {
	if item == "" {
		return fmt.Errorf("has an empty list item")
	}
	rng, stepStr, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepStr)
		if err != nil || n < 1 || n > hi-lo+1 {
			return fmt.Errorf("has a step %q that is not a number from 1 to %d", stepStr, hi-lo+1)
		}
		step = n
	}
	var from, to int
	switch {
	case rng == "*":
		from, to = lo, hi
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		var err error
		if from, err = value(a, lo, hi, names); err != nil {
			return err
		}
		if to, err = value(b, lo, hi, names); err != nil {
			return err
		}
	default:
		v, err := value(rng, lo, hi, names)
		if err != nil {
			return err
		}
		from, to = v, v
		if hasStep {
			to = hi
		}
	}
	// A range may wrap around (FRI-MON, 22-2).
	n := to - from
	if n < 0 {
		n += hi - lo + 1
	}
	for i := 0; i <= n; i += step {
		v := from + i
		if v > hi {
			v -= hi - lo + 1
		}
		set[v-lo] = true
	}
	return nil
}

func value(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		if names != nil {
			return 0, fmt.Errorf("has %q, not a value from %d to %d or a name", s, lo, hi)
		}
		return 0, fmt.Errorf("has %q, not a value from %d to %d", s, lo, hi)
	}
	return v, nil
}

func parseDOM(s string) (dayField, error) {
	d := dayField{values: make([]bool, 31)}
	for _, item := range strings.Split(s, ",") {
		switch {
		case item == "L":
			d.lastOffsets = append(d.lastOffsets, 0)
		case item == "LW":
			d.lastWeekday = true
		case strings.HasPrefix(item, "L-"):
			n, err := strconv.Atoi(item[2:])
			if err != nil || n < 1 || n > 30 {
				return d, fmt.Errorf("has %q: L-N needs N from 1 to 30", item)
			}
			d.lastOffsets = append(d.lastOffsets, n)
		case strings.HasSuffix(item, "W"):
			n, err := strconv.Atoi(strings.TrimSuffix(item, "W"))
			if err != nil || n < 1 || n > 31 {
				return d, fmt.Errorf("has %q: NW needs a day N from 1 to 31", item)
			}
			d.nearestWeekday = append(d.nearestWeekday, n)
		default:
			if strings.ContainsAny(item, "#?") || strings.Contains(item, "L") {
				return d, fmt.Errorf("has %q, which Day-of-month does not accept", item)
			}
			if err := addItem(d.values, item, 1, 31, nil); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

func parseDOW(s string) (dayField, error) {
	d := dayField{values: make([]bool, 7)}
	for _, item := range strings.Split(s, ",") {
		switch {
		case item == "L":
			d.values[6] = true // Saturday, the week's last day
		case strings.HasSuffix(item, "L"):
			n, err := value(strings.TrimSuffix(item, "L"), 1, 7, dayNames)
			if err != nil {
				return d, err
			}
			d.lastOf = append(d.lastOf, n)
		case strings.Contains(item, "#"):
			a, b, _ := strings.Cut(item, "#")
			n, err := value(a, 1, 7, dayNames)
			if err != nil {
				return d, err
			}
			k, err := strconv.Atoi(b)
			if err != nil || k < 1 || k > 5 {
				return d, fmt.Errorf("has %q: N#K needs K from 1 to 5", item)
			}
			d.nth = append(d.nth, [2]int{n, k})
		default:
			if strings.ContainsAny(item, "?W") {
				return d, fmt.Errorf("has %q, which Day-of-week does not accept", item)
			}
			if err := addItem(d.values, item, 1, 7, dayNames); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

func weekday(y int, m time.Month, d int) time.Weekday {
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
}

// nearestWeekday is the weekday of the month nearest day n (Quartz's
// rule: never into another month); 0 when the month has no day n.
func nearestWeekday(y int, m time.Month, n int) int {
	last := daysIn(y, m)
	if n > last {
		return 0
	}
	switch weekday(y, m, n) {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

func (c *cron) dayMatches(y int, m time.Month, d int) bool {
	last := daysIn(y, m)
	if !c.domAny {
		f := c.dom
		if f.values[d-1] {
			return true
		}
		for _, off := range f.lastOffsets {
			if d == last-off {
				return true
			}
		}
		if f.lastWeekday && d == nearestWeekday(y, m, last) {
			return true
		}
		for _, n := range f.nearestWeekday {
			if d == nearestWeekday(y, m, n) {
				return true
			}
		}
		return false
	}
	f := c.dow
	wd := int(weekday(y, m, d)) + 1
	if f.values[wd-1] {
		return true
	}
	for _, n := range f.lastOf {
		if wd == n && d+7 > last {
			return true
		}
	}
	for _, nk := range f.nth {
		if wd == nk[0] && (d-1)/7+1 == nk[1] {
			return true
		}
	}
	return false
}

// Next walks the calendar in the rule's time zone day by day, skipping
// years and months that cannot match.
func (c *cron) Next(t time.Time) time.Time {
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	for y <= maxYear {
		if y < minYear || !c.years[y-minYear] {
			y, m, d = y+1, time.January, 1
			continue
		}
		if !c.months[m-1] {
			if m == time.December {
				y, m, d = y+1, time.January, 1
			} else {
				m, d = m+1, 1
			}
			continue
		}
		if d > daysIn(y, m) {
			if m == time.December {
				y, m, d = y+1, time.January, 1
			} else {
				m, d = m+1, 1
			}
			continue
		}
		if c.dayMatches(y, m, d) {
			for _, h := range c.hourList {
				for _, min := range c.minuteList {
					cand := time.Date(y, m, d, h, min, 0, 0, c.loc)
					if cand.After(t) {
						return cand.UTC()
					}
				}
			}
		}
		d++
	}
	return time.Time{}
}

func (c *cron) String() string { return c.expr }

// MinInterval is the smallest gap between two consecutive minutes or
// hours of the expression; a day when it runs at most once a day.
func (c *cron) MinInterval() time.Duration {
	gap := func(list []int, period int) int {
		if len(list) < 2 {
			return 0
		}
		g := period - list[len(list)-1] + list[0]
		for i := 1; i < len(list); i++ {
			g = min(g, list[i]-list[i-1])
		}
		return g
	}
	if g := gap(c.minuteList, 60); g > 0 {
		return time.Duration(g) * time.Minute
	}
	if g := gap(c.hourList, 24); g > 0 {
		return time.Duration(g) * time.Hour
	}
	return 24 * time.Hour
}
