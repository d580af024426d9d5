package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/engine/pgwal"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/restoretesting"
)

func TestStatusOutput(t *testing.T) {
	last := time.Date(2024, 5, 15, 10, 0, 0, 0, time.UTC)
	entries := []plans.RPOEntry{
		{ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:orders", VaultARN: "arn:aws:backup:us-east-1:111222333444:backup-vault:source-vault", Kind: "backup",
			Plans: []string{"hourly (p1)"}, Last: last, Age: 30 * time.Minute, Frequency: time.Hour, Allowed: 2 * time.Hour},
		{ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:orders", VaultARN: "arn:aws:backup:us-west-2:666777888999:backup-vault:backup-vault", Kind: "copy",
			Plans: []string{"hourly (p1)"}, Last: last.Add(-5 * time.Hour), Age: 5*time.Hour + 30*time.Minute, Frequency: time.Hour, Allowed: 2 * time.Hour, Overdue: true},
		{ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:users", VaultARN: "arn:aws:backup:us-east-1:111222333444:backup-vault:source-vault", Kind: "backup",
			Plans: []string{"hourly (p1)"}, Frequency: time.Hour, Allowed: 2 * time.Hour, Overdue: true},
		{ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:old", VaultARN: "arn:aws:backup:us-east-1:111222333444:backup-vault:source-vault",
			Last: last.Add(-72 * time.Hour), Age: 72 * time.Hour},
	}
	var buf bytes.Buffer
	if err := writeStatusTable(&buf, entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "RESOURCE") {
		t.Fatalf("table:\n%s", buf.String())
	}
	for i, want := range []string{"ok", "OVERDUE", "NEVER", "no plan"} {
		if !strings.Contains(lines[i+1], " "+want+" ") {
			t.Errorf("line %d %q lacks status %q", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[2], "5h30m0s") || !strings.Contains(lines[4], "3.0d") {
		t.Errorf("ages: %q, %q", lines[2], lines[4])
	}
	buf.Reset()
	if err := writeStatusJSON(&buf, entries[1:2]); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status     string
		Overdue    bool
		AgeSeconds float64
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil || got.Status != "OVERDUE" || !got.Overdue || got.AgeSeconds != 19800 {
		t.Fatalf("JSON %s: %+v %v", buf.String(), got, err)
	}
}

func TestStatusRestoreTests(t *testing.T) {
	created := time.Date(2024, 5, 15, 5, 0, 0, 0, time.UTC)
	plan := "arn:aws:backup:us-east-1:666777888999:restore-testing-plan:daily-1"
	results := []restoretesting.Result{
		{PlanARN: plan, ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:orders", Tests: 7,
			Job: &backup.Job{ID: "J1", State: backup.StateCompleted, ValidationStatus: backup.ValidationSuccessful, DeletionStatus: backup.DeletionSuccessful, Created: created}},
		{PlanARN: plan, ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:users", Tests: 3, Failed: 1,
			Job: &backup.Job{ID: "J2", State: backup.StateFailed, ValidationStatus: backup.ValidationFailed, ValidationMessage: "integrity", Created: created}},
		{PlanARN: plan, ResourceARN: "arn:aws:rds:us-east-1:111222333444:db:carts", Tests: 1,
			Job: &backup.Job{ID: "J3", State: backup.StateRunning, Created: created}},
	}
	var buf bytes.Buffer
	if err := writeRestoreTestsTable(&buf, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "RESTORE TESTING PLAN") {
		t.Fatalf("table:\n%s", buf.String())
	}
	for i, want := range []string{" ok ", " FAILED ", " running "} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %q lacks %q", lines[i+1], want)
		}
	}
	if !strings.Contains(lines[2], "1/3") {
		t.Errorf("line %q lacks the failed/tests count 1/3", lines[2])
	}
	buf.Reset()
	if err := writeRestoreTestsJSON(&buf, results[1:2]); err != nil {
		t.Fatal(err)
	}
	var got struct{ Result, ValidationStatus, ValidationStatusMessage string }
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil || got.Result != "FAILED" || got.ValidationStatus != "FAILED" || got.ValidationStatusMessage != "integrity" {
		t.Fatalf("JSON %s: %+v %v", buf.String(), got, err)
	}
}

func TestStatusPointInTime(t *testing.T) {
	now := time.Date(2024, 5, 15, 10, 0, 0, 0, time.UTC)
	sts := []pitrStatus{
		{InstanceARN: "arn:aws:rds:us-east-1:111222333444:db:orders", Status: pgwal.Status{
			Window:    &pgwal.Window{Earliest: now.Add(-26 * time.Hour), Latest: now.Add(-4 * time.Second)},
			ServerLSN: 0x3000C18, SlotLSN: 0x3000000, ProbedAt: now.Add(-2 * time.Second)}},
		{InstanceARN: "arn:aws:rds:us-east-1:111222333444:db:users"},
	}
	var buf bytes.Buffer
	if err := writePITRTable(&buf, sts, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DB INSTANCE") {
		t.Fatalf("table:\n%s", buf.String())
	}
	for _, want := range []string{" 4s ", " 3096 bytes ", " 2s ago"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line %q lacks %q", lines[1], want)
		}
	}
	if !strings.Contains(lines[2], "no restorable time yet") || !strings.Contains(lines[2], "never") {
		t.Errorf("line %q", lines[2])
	}
	buf.Reset()
	if err := writePITRJSON(&buf, sts, now); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	var got struct {
		DBInstanceArn        string
		LatestRestorableTime *time.Time
		SecondsBehind        *float64
		ReplicationLagBytes  *int64
		ServerLSN, SlotLSN   string
	}
	if err := dec.Decode(&got); err != nil || got.SecondsBehind == nil || *got.SecondsBehind != 4 || got.ReplicationLagBytes == nil || *got.ReplicationLagBytes != 3096 ||
		got.ServerLSN != "0/3000C18" || got.SlotLSN != "0/3000000" || !got.LatestRestorableTime.Equal(now.Add(-4*time.Second)) {
		t.Fatalf("JSON: %+v %v", got, err)
	}
	got.SecondsBehind, got.ReplicationLagBytes = nil, nil
	if err := dec.Decode(&got); err != nil || got.DBInstanceArn != sts[1].InstanceARN || got.SecondsBehind != nil || got.ReplicationLagBytes != nil {
		t.Fatalf("JSON of an instance with nothing captured yet: %+v %v", got, err)
	}
}
