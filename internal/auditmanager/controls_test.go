package auditmanager

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

func TestControlParams(t *testing.T) {
	for _, tc := range []struct {
		control string
		in      []ControlInputParameter
		want    map[string]string
		wantErr bool
	}{
		{"BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK", nil, map[string]string{"requiredRetentionDays": "35"}, false},
		{"BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK", []ControlInputParameter{{"requiredRetentionDays", "90"}}, map[string]string{"requiredRetentionDays": "90"}, false},
		{"BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK", []ControlInputParameter{{"requiredRetentionDays", "0"}}, nil, true},
		{"BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK", []ControlInputParameter{{"requiredRetentionDays", "ten"}}, nil, true},
		{"BACKUP_LAST_RECOVERY_POINT_CREATED", []ControlInputParameter{{"recoveryPointAgeUnit", "hours"}, {"recoveryPointAgeValue", "12"}},
			map[string]string{"recoveryPointAgeUnit": "hours", "recoveryPointAgeValue": "12"}, false},
		{"BACKUP_LAST_RECOVERY_POINT_CREATED", []ControlInputParameter{{"recoveryPointAgeUnit", "weeks"}}, nil, true},
		{"BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT", []ControlInputParameter{{"crossAccountList", "666777888999, 111222333444"}},
			map[string]string{"crossAccountList": "666777888999, 111222333444"}, false},
		{"BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT", []ControlInputParameter{{"crossAccountList", "66677788899"}}, nil, true},
		{"BACKUP_RECOVERY_POINT_ENCRYPTED", []ControlInputParameter{{"requiredRetentionDays", "35"}}, nil, true},
	} {
		got, err := controls[tc.control].params(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s %v: error %v, want error %v", tc.control, tc.in, err, tc.wantErr)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s %v: %s = %q, want %q", tc.control, tc.in, k, got[k], v)
			}
		}
	}
}

func TestEncodeReport(t *testing.T) {
	header := []string{"controlName", "numResourcesCompliant"}
	rows := [][]string{{"A,B", "3"}}
	body, ctype, ext, err := encodeReport("JSON", header, rows)
	if err != nil || ctype != "application/json" || ext != ".json" {
		t.Fatal(ctype, ext, err)
	}
	var doc struct {
		ReportItems []map[string]any `json:"reportItems"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.ReportItems) != 1 || doc.ReportItems[0]["numResourcesCompliant"] != float64(3) || doc.ReportItems[0]["controlName"] != "A,B" {
		t.Fatalf("JSON %s: %v", body, err)
	}
	body, _, ext, err = encodeReport("CSV", header, rows)
	if err != nil || ext != ".csv" {
		t.Fatal(err)
	}
	got, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(got) != 2 || got[1][0] != "A,B" || got[0][1] != "numResourcesCompliant" {
		t.Fatalf("CSV %q: %v", body, err)
	}
}
