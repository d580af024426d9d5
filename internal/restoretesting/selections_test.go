package restoretesting

import (
	"testing"

	"github.com/coffer-dev/coffer/internal/backup"
)

func TestSelectionMatches(t *testing.T) {
	const orders, users = "arn:aws:rds:us-east-1:111222333444:db:orders", "arn:aws:rds:us-east-1:111222333444:db:users"
	gold := map[string]string{"tier": "gold"}
	for _, tc := range []struct {
		name string
		sel  SelectionInput
		arn  string
		typ  string
		tags map[string]string
		want bool
	}{
		{"wildcard", SelectionInput{ProtectedResourceType: "RDS", ProtectedResourceArns: []string{"*"}}, orders, "RDS", nil, true},
		{"other type", SelectionInput{ProtectedResourceType: "RDS", ProtectedResourceArns: []string{"*"}}, orders, "EBS", nil, false},
		{"named", SelectionInput{ProtectedResourceType: "RDS", ProtectedResourceArns: []string{orders}}, orders, "RDS", nil, true},
		{"not named", SelectionInput{ProtectedResourceType: "RDS", ProtectedResourceArns: []string{orders}}, users, "RDS", nil, false},
		{"tag equals", SelectionInput{ProtectedResourceType: "RDS", ProtectedResourceArns: []string{"*"},
			ProtectedResourceConditions: &ResourceConditions{StringEquals: []KeyValue{{"aws:ResourceTag/tier", "gold"}}}}, orders, "RDS", gold, true},
		{"tag missing", SelectionInput{ProtectedResourceType: "RDS",
			ProtectedResourceConditions: &ResourceConditions{StringEquals: []KeyValue{{"tier", "gold"}}}}, orders, "RDS", nil, false},
		{"tag not equals", SelectionInput{ProtectedResourceType: "RDS",
			ProtectedResourceConditions: &ResourceConditions{StringNotEquals: []KeyValue{{"tier", "gold"}}}}, orders, "RDS", gold, false},
		{"tag not equals, untagged", SelectionInput{ProtectedResourceType: "RDS",
			ProtectedResourceConditions: &ResourceConditions{StringNotEquals: []KeyValue{{"tier", "gold"}}}}, orders, "RDS", nil, true},
	} {
		if got := tc.sel.Matches(tc.arn, tc.typ, tc.tags); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVaultPicked(t *testing.T) {
	const prod, scratch = "arn:aws:backup:us-east-1:666777888999:backup-vault:prod-vault", "arn:aws:backup:us-east-1:666777888999:backup-vault:scratch"
	for _, tc := range []struct {
		name             string
		include, exclude []string
		vault            string
		want             bool
	}{
		{"all", []string{"*"}, nil, prod, true},
		{"named", []string{prod}, nil, scratch, false},
		{"wildcard", []string{"arn:aws:backup:*:*:backup-vault:prod-*"}, nil, prod, true},
		{"wildcard misses", []string{"arn:aws:backup:*:*:backup-vault:prod-*"}, nil, scratch, false},
		{"excluded", []string{"*"}, []string{scratch}, scratch, false},
		{"not excluded", []string{"*"}, []string{scratch}, prod, true},
	} {
		r := RecoveryPointSelection{IncludeVaults: tc.include, ExcludeVaults: tc.exclude}
		if got := r.vaultPicked(tc.vault); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRestoreMetadata(t *testing.T) {
	sel := SelectionInput{RestoreMetadataOverrides: map[string]string{"kmskeyid": "k", "VALIDATIONQUERY": "SELECT 1", "Custom": "x"}}
	got := sel.restoreMetadata(map[string]string{"KmsKeyId": "old", "Engine": "sqlite"}, "awsbackup-restore-test-1")
	want := map[string]string{"KmsKeyId": "k", backup.ValidationQueryKey: "SELECT 1", "Custom": "x", "DBInstanceIdentifier": "awsbackup-restore-test-1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
