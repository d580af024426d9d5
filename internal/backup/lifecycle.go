package backup

import "time"

// Lifecycle is when a recovery point moves to cold storage and when it
// is deleted, in days after its creation; 0 means never.
type Lifecycle struct {
	ColdAfterDays   int64
	DeleteAfterDays int64
}

// minColdDays is AWS's rule: a recovery point in cold storage stays
// there at least 90 days.
const minColdDays = 90

// Validate applies AWS Backup's rules.
func (l Lifecycle) Validate() error {
	switch {
	case l.ColdAfterDays < 0 || l.DeleteAfterDays < 0:
		return InvalidParam("lifecycle days must not be negative")
	case l.ColdAfterDays > 0 && l.DeleteAfterDays > 0 && l.DeleteAfterDays < l.ColdAfterDays+minColdDays:
		return InvalidParam("DeleteAfterDays (%d) must be at least %d days after MoveToColdStorageAfterDays (%d): recovery points stay in cold storage for at least %d days",
			l.DeleteAfterDays, minColdDays, l.ColdAfterDays, minColdDays)
	}
	return nil
}

// At returns the dates the lifecycle gives a recovery point created at
// created; zero times for never.
func (l Lifecycle) At(created time.Time) (cold, del time.Time) {
	day := 24 * time.Hour
	if l.ColdAfterDays > 0 {
		cold = created.Add(time.Duration(l.ColdAfterDays) * day)
	}
	if l.DeleteAfterDays > 0 {
		del = created.Add(time.Duration(l.DeleteAfterDays) * day)
	}
	return cold, del
}
