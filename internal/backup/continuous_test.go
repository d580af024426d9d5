package backup

import (
	"strings"
	"testing"
	"time"
)

// TestPointInTimeMetadata: a continuous restore's RestoreTime and
// UseLatestRestorableTime, as RDS's RestoreDBInstanceToPointInTime
// takes them.
func TestPointInTimeMetadata(t *testing.T) {
	at := time.Date(2026, 12, 3, 17, 4, 5, 250e6, time.UTC)
	for _, c := range []struct {
		md         map[string]string
		at         time.Time
		latest     bool
		wantErrHas string
	}{
		{md: map[string]string{RestoreTimeKey: "2026-12-03T17:04:05.25Z"}, at: at},
		{md: map[string]string{RestoreTimeKey: "2026-12-03T18:04:05.25+01:00", UseLatestKey: "false"}, at: at},
		{md: map[string]string{UseLatestKey: "true"}, latest: true},
		{md: map[string]string{}, latest: true},
		{md: map[string]string{RestoreTimeKey: "2026-12-03T17:04:05Z", UseLatestKey: "true"}, wantErrHas: "cannot both be given"},
		{md: map[string]string{RestoreTimeKey: "yesterday"}, wantErrHas: "not an ISO 8601 time"},
		{md: map[string]string{UseLatestKey: "maybe"}, wantErrHas: "neither true nor false"},
	} {
		got, latest, err := pointInTime(c.md)
		if c.wantErrHas != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrHas) {
				t.Errorf("%v: %v, want an error saying %q", c.md, err, c.wantErrHas)
			}
			continue
		}
		if err != nil || !got.Equal(c.at) || latest != c.latest {
			t.Errorf("%v: %s latest=%v %v; want %s latest=%v", c.md, got, latest, err, c.at, c.latest)
		}
	}
}

// TestContinuousLifecycle: AWS Backup's rules for a continuous rule's
// lifecycle, with its error texts.
func TestContinuousLifecycle(t *testing.T) {
	for _, c := range []struct {
		l    *Lifecycle
		want string
	}{
		{&Lifecycle{DeleteAfterDays: 1}, ""},
		{&Lifecycle{DeleteAfterDays: 35}, ""},
		{nil, "Error in rule r : Lifecycle must be specified for backup rule enabled continuous backup"},
		{&Lifecycle{}, "Error in rule r : Invalid lifecycle. DeleteAfterDays cannot be less than 1 or more than 35 days"},
		{&Lifecycle{DeleteAfterDays: 36}, "Error in rule r : Invalid lifecycle. DeleteAfterDays cannot be less than 1 or more than 35 days"},
		{&Lifecycle{DeleteAfterDays: 120, ColdAfterDays: 7}, "Error in rule r : Invalid lifecycle. MoveToColdStorageAfterDays is unavailable"},
	} {
		err := CheckContinuousLifecycle("r", c.l)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.l, err, c.want)
		}
	}
	arn := continuousARN("us-east-1", "111222333444", "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	if !strings.HasPrefix(arn, "arn:aws:backup:us-east-1:111222333444:recovery-point:continuous:db-abcdefghijklmnopqrstuvwxyz-") || len(arn) != len("arn:aws:backup:us-east-1:111222333444:recovery-point:continuous:db-abcdefghijklmnopqrstuvwxyz-")+8 || !IsContinuous(arn) ||
		strings.Trim(arn[len(arn)-8:], "0123456789abcdef") != "" {
		t.Errorf("continuous recovery point ARN %s", arn)
	}
	if IsContinuous("arn:aws:rds:us-east-1:111222333444:snapshot:awsbackup:job-x") {
		t.Error("a snapshot ARN taken for a continuous one")
	}
}
