package postgres

import (
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/engine"
)

func TestParseBanner(t *testing.T) {
	tests := []struct {
		in    string
		major int
		ver   string
		ok    bool
	}{
		{"pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", 15, "15.18", true},
		{"pg_restore (PostgreSQL) 9.6.24\n", 9, "9.6", true},
		{"pg_dump (PostgreSQL) 17devel", 17, "17", true},
		{"bash: pg_dump: command not found", 0, "", false},
		{"", 0, "", false},
	}
	for _, tc := range tests {
		got, ok := parseBanner(tc.in)
		if ok != tc.ok || got.Major != tc.major || got.Version != tc.ver {
			t.Errorf("parseBanner(%q) = %+v, %v; want major %d version %q ok %v", tc.in, got, ok, tc.major, tc.ver, tc.ok)
		}
	}
}

func TestSum128(t *testing.T) {
	tests := []struct{ hi, lo, want string }{
		{"0", "0", "00000000000000000000000000000000"},
		{"1", "-1", "0000000000000001ffffffffffffffff"},
		{"18446744073709551617", "-18446744073709551616", "00000000000000010000000000000000"},
		{"-9223372036854775808", "9223372036854775807", "80000000000000007fffffffffffffff"},
	}
	for _, tc := range tests {
		got, err := sum128(tc.hi, tc.lo)
		if err != nil || got != tc.want {
			t.Errorf("sum128(%s, %s) = %s, %v; want %s", tc.hi, tc.lo, got, err, tc.want)
		}
	}
	if _, err := sum128("12a", "0"); err == nil {
		t.Error("sum128 accepted a non-number")
	}
}

func TestTailHidesData(t *testing.T) {
	tl := &tail{max: 4096}
	tl.Write([]byte("pg_restore: error: COPY failed for table \"cards\": ERROR:  invalid input syntax for type integer: \"4111-1111-1111-1111\"\nCONTEXT:  COPY cards, line 1, column n: \"4111-1111-1111-1111\"\n"))
	got := tl.String()
	if strings.Contains(got, "4111") {
		t.Errorf("tail shows row data: %s", got)
	}
	if !strings.Contains(got, `table "cards"`) || !strings.Contains(got, "invalid input syntax") {
		t.Errorf("tail lost the error: %s", got)
	}
	small := &tail{max: 10}
	small.Write([]byte("0123456789abcdef"))
	if small.String() != "6789abcdef" {
		t.Errorf("tail kept %q", small.String())
	}
}

func TestConnString(t *testing.T) {
	got := ConnString(engine.Target{Host: "db.example", Port: 5433, Database: "it's", User: `a\b`, Password: "secret", SSLMode: "require"})
	want := `host='db.example' port='5433' dbname='it\'s' user='a\\b' sslmode='require' connect_timeout='15'`
	if got != want {
		t.Errorf("ConnString = %s, want %s", got, want)
	}
}
