package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	want := []Table{{Name: "a", Rows: 2, Checksum: "x"}, {Name: "b", Rows: 1, Checksum: "y"}, {Name: "c", Rows: 0, Checksum: "z"}, {Name: "d", Rows: 5, Checksum: "w"}}
	tests := []struct {
		name    string
		got     []Table
		reasons map[string]string
	}{
		{"equal", want, nil},
		{"checksum", []Table{want[0], {Name: "b", Rows: 1, Checksum: "Y"}, want[2], want[3]}, map[string]string{"b": "checksum"}},
		{"rows", []Table{want[0], want[1], want[2], {Name: "d", Rows: 4, Checksum: "w"}}, map[string]string{"d": "rows"}},
		{"missing and unexpected", []Table{want[0], want[1], want[3], {Name: "e"}}, map[string]string{"c": "missing", "e": "unexpected"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Compare(want, tc.got)
			if len(tc.reasons) == 0 {
				if err != nil || !res.OK() {
					t.Fatalf("Compare = %+v, %v; want OK", res, err)
				}
				return
			}
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("err = %v, want ErrMismatch", err)
			}
			got := map[string]string{}
			for _, m := range res.Mismatches {
				got[m.Table] = m.Reason
				if !strings.Contains(err.Error(), "table "+m.Table+" ") {
					t.Errorf("error %q does not name table %s", err, m.Table)
				}
			}
			if len(got) != len(tc.reasons) {
				t.Fatalf("mismatches = %v, want %v", got, tc.reasons)
			}
			for k, v := range tc.reasons {
				if got[k] != v {
					t.Errorf("mismatch %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestMetadataJSON(t *testing.T) {
	md := &Metadata{FormatVersion: FormatVersion, Engine: "postgres", DumpFormat: "pg_dump-custom", Tables: []Table{{Name: "b", Rows: 1}, {Name: "a", Rows: 2}}}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Index(string(b), `"name":"a"`) > strings.Index(string(b), `"name":"b"`) {
		t.Errorf("tables not sorted: %s", b)
	}
	var back Metadata
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Rows() != 3 || back.Engine != "postgres" {
		t.Fatalf("round trip = %+v", back)
	}
	if err := back.Check("postgres", "pg_dump-custom"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name   string
		mutate func(*Metadata)
	}{
		{"engine", func(m *Metadata) { m.Engine = "sqlite" }},
		{"format", func(m *Metadata) { m.DumpFormat = "plain" }},
		{"version", func(m *Metadata) { m.FormatVersion = FormatVersion + 1 }},
	} {
		c := back
		bad.mutate(&c)
		if err := c.Check("postgres", "pg_dump-custom"); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Check = %v, want ErrFormat", bad.name, err)
		}
	}
}

func TestTargetHidesPassword(t *testing.T) {
	tg := Target{Host: "h", Port: 5432, Database: "d", User: "u", Password: "s3cret"}
	b, _ := json.Marshal(tg)
	for _, s := range []string{tg.String(), tg.GoString(), string(b)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("password leaked: %s", s)
		}
	}
}
