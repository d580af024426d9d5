package backup

import (
	"slices"
	"strings"
	"testing"
)

// Every job state a notification announces maps to the events AWS
// documents: STARTED when it runs, and COMPLETED standing for every
// outcome beside the specific SUCCESSFUL, FAILED or EXPIRED.
func TestJobEvents(t *testing.T) {
	for _, tc := range []struct {
		kind, state string
		wantType    string
		want        []string
	}{
		{KindBackup, StateRunning, "BACKUP_JOB", []string{"BACKUP_JOB_STARTED"}},
		{KindBackup, StateCompleted, "BACKUP_JOB", []string{"BACKUP_JOB_COMPLETED", "BACKUP_JOB_SUCCESSFUL"}},
		{KindBackup, StateFailed, "BACKUP_JOB", []string{"BACKUP_JOB_COMPLETED", "BACKUP_JOB_FAILED"}},
		{KindBackup, StateExpired, "BACKUP_JOB", []string{"BACKUP_JOB_COMPLETED", "BACKUP_JOB_EXPIRED"}},
		{KindBackup, StateAborted, "BACKUP_JOB", []string{"BACKUP_JOB_COMPLETED"}},
		{KindBackup, StateCreated, "BACKUP_JOB", nil},
		{KindCopy, StateRunning, "COPY_JOB", []string{"COPY_JOB_STARTED"}},
		{KindCopy, StateCompleted, "COPY_JOB", []string{"COPY_JOB_COMPLETED", "COPY_JOB_SUCCESSFUL"}},
		{KindCopy, StateFailed, "COPY_JOB", []string{"COPY_JOB_COMPLETED", "COPY_JOB_FAILED"}},
		{KindRestore, StateRunning, "RESTORE_JOB", []string{"RESTORE_JOB_STARTED"}},
		{KindRestore, StateCompleted, "RESTORE_JOB", []string{"RESTORE_JOB_COMPLETED", "RESTORE_JOB_SUCCESSFUL"}},
		{KindRestore, StateFailed, "RESTORE_JOB", []string{"RESTORE_JOB_COMPLETED", "RESTORE_JOB_FAILED"}},
	} {
		t.Run(tc.kind+"/"+tc.state, func(t *testing.T) {
			j := &Job{Kind: tc.kind, State: tc.state, ID: "J1", ResourceARN: "arn:aws:rds:us-east-1:111122223333:db:d", StatusMessage: "why"}
			gotType, got := jobEvents(j)
			if gotType != tc.wantType || !slices.Equal(got, tc.want) {
				t.Errorf("jobEvents = %s %v, want %s %v", gotType, got, tc.wantType, tc.want)
			}
			// Every event a state maps to is one a vault may name, so
			// none is announced in vain.
			for _, e := range got {
				if !slices.Contains(BackupVaultEvents, e) && e != "COPY_JOB_COMPLETED" {
					t.Errorf("%s is not a BackupVaultEvent", e)
				}
			}
			if got == nil {
				return // nothing is announced, so there is no message
			}
			msg := jobMessage(j)
			if !strings.Contains(msg, "J1") || !strings.Contains(msg, j.ResourceARN) {
				t.Errorf("message %q names neither the job nor the resource", msg)
			}
			if (tc.state == StateFailed || tc.state == StateExpired || tc.state == StateAborted) != strings.Contains(msg, "why") {
				t.Errorf("message %q and the status message of a %s job", msg, tc.state)
			}
		})
	}
}
