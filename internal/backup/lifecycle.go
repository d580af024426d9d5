package backup

import "time"

// Lifecycle is when a recovery point moves to cold storage and when it
// is deleted, in days after its creation; 0 means never.
type Lifecycle struct {
	ColdAfterDays   int64
	DeleteAfterDays int64
}

const (
	// minColdDays is AWS's rule: a recovery point in cold storage stays
	// there at least 90 days.
	minColdDays = 90
	// MaxLifecycleDays bounds every lifecycle, retention and lock figure
	// in days: AWS's 100 years (the vault lock's MaxRetentionDays limit).
	MaxLifecycleDays = maxRetentionDays
	// MaxWindowMinutes bounds a job's start and completion windows by the
	// same 100 years, so a deadline never overflows into the past.
	MaxWindowMinutes = MaxLifecycleDays * 24 * 60
)

// Validate applies AWS Backup's rules: days between 1 and
// MaxLifecycleDays (0 stands for never), deletion at least 90 days after
// the move to cold storage.
func (l Lifecycle) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"MoveToColdStorageAfterDays", l.ColdAfterDays}, {"DeleteAfterDays", l.DeleteAfterDays}} {
		if f.v < 0 || f.v > MaxLifecycleDays {
			return InvalidParam("%s must be between 1 and %d days, not %d", f.name, MaxLifecycleDays, f.v)
		}
	}
	if l.ColdAfterDays > 0 && l.DeleteAfterDays > 0 && l.DeleteAfterDays < l.ColdAfterDays+minColdDays {
		return InvalidParam("DeleteAfterDays (%d) must be at least %d days after MoveToColdStorageAfterDays (%d): recovery points stay in cold storage for at least %d days",
			l.DeleteAfterDays, minColdDays, l.ColdAfterDays, minColdDays)
	}
	return nil
}

// At returns the dates the lifecycle gives a recovery point created at
// created; zero times for never. Figures beyond MaxLifecycleDays (rows
// written before it was enforced) saturate there, so a date is never
// before created.
func (l Lifecycle) At(created time.Time) (cold, del time.Time) {
	return AddDays(created, l.ColdAfterDays), AddDays(created, l.DeleteAfterDays)
}

// AddDays is the calendar date days after t, saturating at
// MaxLifecycleDays; the zero time when days is not positive (never).
func AddDays(t time.Time, days int64) time.Time {
	if days <= 0 {
		return time.Time{}
	}
	return t.AddDate(0, 0, int(min(days, MaxLifecycleDays)))
}

// deletesBefore reports whether a recovery point created at created is
// deleted earlier under l than under old; never is later than any date.
func (l Lifecycle) deletesBefore(old Lifecycle, created time.Time) bool {
	_, del := l.At(created)
	_, was := old.At(created)
	return !del.IsZero() && (was.IsZero() || del.Before(was))
}
