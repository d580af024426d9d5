package backup

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// days are the figures the properties run over: the edges of int64, of
// the day count time.Duration overflows at, of AWS's range, and random
// values from the whole int64 range.
func days(r *rand.Rand) []int64 {
	out := []int64{math.MinInt64, math.MinInt64 + 1, -106752, -1, 0, 1, 2, 89, 90, 91, MaxLifecycleDays - 1, MaxLifecycleDays, MaxLifecycleDays + 1,
		106751, 106752, 106753, math.MaxInt32, math.MaxInt32 + 1, math.MaxInt64 / (24 * int64(time.Hour)), math.MaxInt64 - 1, math.MaxInt64}
	for range 2000 {
		out = append(out, int64(r.Uint64()))
	}
	return out
}

// TestAddDaysProperties: across the whole int64 range AddDays is never
// for non-positive counts, always after the start otherwise, monotone,
// and the calendar date for counts AWS accepts.
func TestAddDaysProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ds := days(r)
	starts := []time.Time{time.Unix(0, 1).UTC(), time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64).UTC()}
	for range 20 {
		starts = append(starts, time.Unix(0, r.Int64()).UTC())
	}
	for _, start := range starts {
		for _, d := range ds {
			got := AddDays(start, d)
			if d <= 0 {
				if !got.IsZero() {
					t.Fatalf("AddDays(%s, %d) = %s, want never", start, d, got)
				}
				continue
			}
			if !got.After(start) {
				t.Fatalf("AddDays(%s, %d) = %s, not after the start", start, d, got)
			}
			if d <= MaxLifecycleDays && !got.Equal(start.AddDate(0, 0, int(d))) {
				t.Fatalf("AddDays(%s, %d) = %s, want the calendar date %s", start, d, got, start.AddDate(0, 0, int(d)))
			}
			for _, e := range ds {
				if e > d && AddDays(start, e).Before(got) {
					t.Fatalf("AddDays(%s, %d) = %s is before AddDays(%s, %d) = %s", start, e, AddDays(start, e), start, d, got)
				}
			}
		}
	}
}

// TestLifecycleRange: Validate accepts exactly 0 (never) to
// MaxLifecycleDays, and a valid lifecycle deletes after its creation and
// no earlier than it moves to cold storage.
func TestLifecycleRange(t *testing.T) {
	created := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	for _, d := range days(rand.New(rand.NewPCG(3, 4))) {
		for _, l := range []Lifecycle{{DeleteAfterDays: d}, {ColdAfterDays: d}, {ColdAfterDays: 1, DeleteAfterDays: d}} {
			err := l.Validate()
			inRange := d >= 0 && d <= MaxLifecycleDays && !(l.ColdAfterDays > 0 && l.DeleteAfterDays > 0 && l.DeleteAfterDays < l.ColdAfterDays+90)
			if got, want := err == nil, inRange; got != want {
				t.Fatalf("%+v: Validate() = %v, want accepted %v", l, err, want)
			}
			if err != nil {
				continue
			}
			cold, del := l.At(created)
			if !del.IsZero() && (!del.After(created) || (!cold.IsZero() && del.Before(cold))) {
				t.Fatalf("%+v: cold %s, delete %s for creation %s", l, cold, del, created)
			}
		}
	}
}

// TestDeletesBefore: shortening is judged on the resulting dates, never
// being later than any date.
func TestDeletesBefore(t *testing.T) {
	created := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		new, old int64
		want     bool
	}{
		{"shorter", 10, 30, true},
		{"same", 30, 30, false},
		{"longer", 31, 30, false},
		{"kept forever before", 10, 0, true},
		{"kept forever now", 0, 10, false},
		{"huge figure saturates, shorter than nothing", math.MaxInt64, 30, false},
		{"106752 days is not before 30 days", 106752, 30, false},
	} {
		got := Lifecycle{DeleteAfterDays: c.new}.deletesBefore(Lifecycle{DeleteAfterDays: c.old}, created)
		if got != c.want {
			t.Errorf("%s: deletesBefore = %v, want %v", c.name, got, c.want)
		}
	}
}
