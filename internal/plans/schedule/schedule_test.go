package schedule

import (
	"strings"
	"testing"
	"time"
)

// base is Wednesday 15 May 2024, 10:30 UTC. May 2024 starts on a
// Wednesday and ends on Friday the 31st; June 2024 starts on a Saturday.
var base = time.Date(2024, 5, 15, 10, 30, 0, 0, time.UTC)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestNext runs the expressions of AWS's documentation (EventBridge's
// cron table and AWS Backup's plan examples) and a few of the special
// forms; the next runs were worked out from a calendar.
func TestNext(t *testing.T) {
	tests := []struct {
		name, expr, tz string
		want           string // "" for never
	}{
		{"10:00 every day", "cron(0 10 * * ? *)", "", "2024-05-16T10:00:00Z"},
		{"12:15 every day", "cron(15 12 * * ? *)", "", "2024-05-15T12:15:00Z"},
		{"18:00 Monday to Friday", "cron(0 18 ? * MON-FRI *)", "", "2024-05-15T18:00:00Z"},
		{"08:00 on the first of the month", "cron(0 8 1 * ? *)", "", "2024-06-01T08:00:00Z"},
		{"every 15 minutes", "cron(0/15 * * * ? *)", "", "2024-05-15T10:45:00Z"},
		{"every 10 minutes Monday to Friday", "cron(0/10 * ? * MON-FRI *)", "", "2024-05-15T10:40:00Z"},
		{"every 5 minutes 8-17 on weekdays", "cron(0/5 8-17 ? * MON-FRI *)", "", "2024-05-15T10:35:00Z"},
		{"first Monday of the month", "cron(0 9 ? * 2#1 *)", "", "2024-06-03T09:00:00Z"},
		{"second Monday by name", "cron(0 8 ? * MON#2 *)", "", "2024-06-10T08:00:00Z"},
		{"AWS Backup default: daily 05:00", "cron(0 5 ? * * *)", "", "2024-05-16T05:00:00Z"},
		{"AWS Backup weekly on Saturday", "cron(0 5 ? * 7 *)", "", "2024-05-18T05:00:00Z"},
		{"AWS Backup monthly", "cron(0 5 1 * ? *)", "", "2024-06-01T05:00:00Z"},
		{"every hour on the hour", "cron(0 * ? * * *)", "", "2024-05-15T11:00:00Z"},
		{"every 12 hours", "cron(0 0/12 ? * * *)", "", "2024-05-15T12:00:00Z"},
		{"last day of the month", "cron(0 12 L * ? *)", "", "2024-05-31T12:00:00Z"},
		{"three days before the last", "cron(0 12 L-3 * ? *)", "", "2024-05-28T12:00:00Z"},
		{"last Friday of the month", "cron(0 0 ? * 6L *)", "", "2024-05-31T00:00:00Z"},
		{"weekday nearest the 15th (a Saturday in June)", "cron(0 0 15W * ? *)", "", "2024-06-14T00:00:00Z"},
		{"last weekday of the month", "cron(0 0 LW * ? *)", "", "2024-05-31T00:00:00Z"},
		{"weekday nearest the 1st (a Saturday in June)", "cron(0 0 1W * ? *)", "", "2024-06-03T00:00:00Z"},
		{"a later year", "cron(0 12 * * ? 2025)", "", "2025-01-01T12:00:00Z"},
		{"a past year", "cron(0 5 ? * * 2020)", "", ""},
		{"once a year", "cron(0 0 1 1 ? *)", "", "2025-01-01T00:00:00Z"},
		{"months by name, wrapping range", "cron(0 0 1 NOV-FEB ? *)", "", "2024-11-01T00:00:00Z"},
		{"30 February never comes", "cron(0 0 30 2 ? *)", "", ""},
		{"29 February, next leap year", "cron(0 0 29 2 ? *)", "", "2028-02-29T00:00:00Z"},
		{"Sunday 02:30 in New York (EDT)", "cron(30 2 ? * SUN *)", "America/New_York", "2024-05-19T06:30:00Z"},
		{"09:00 in Tokyo", "cron(0 9 * * ? *)", "Asia/Tokyo", "2024-05-16T00:00:00Z"},
		{"rate 1 hour", "rate(1 hour)", "", "2024-05-15T11:00:00Z"},
		{"rate 12 hours", "rate(12 hours)", "", "2024-05-15T12:00:00Z"},
		{"rate 1 day", "rate(1 day)", "", "2024-05-16T00:00:00Z"},
		{"rate 90 minutes, on a run", "rate(90 minutes)", "", "2024-05-15T12:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := LoadLocation(tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(tt.expr, loc)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(base)
			if tt.want == "" {
				if !got.IsZero() {
					t.Fatalf("Next = %s, want never", got)
				}
				return
			}
			if want := utc(tt.want); !got.Equal(want) {
				t.Fatalf("Next(%s) = %s, want %s", base.Format(time.RFC3339), got.Format(time.RFC3339), tt.want)
			}
		})
	}
}

// TestDaylightSaving: a daily 01:30 New York run stays at 01:30 local
// time across the November change (05:30 UTC, then 06:30 UTC) and runs
// once on the day 01:30 happens twice.
func TestDaylightSaving(t *testing.T) {
	loc, _ := LoadLocation("America/New_York")
	s, err := Parse("cron(30 1 * * ? *)", loc)
	if err != nil {
		t.Fatal(err)
	}
	got := Between(s, utc("2024-11-02T00:00:00Z"), utc("2024-11-05T00:00:00Z"), 10)
	want := []string{"2024-11-02T05:30:00Z", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"}
	if len(got) != len(want) {
		t.Fatalf("runs = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(utc(want[i])) {
			t.Errorf("run %d = %s, want %s", i, got[i].Format(time.RFC3339), want[i])
		}
	}
}

func TestBetweenAndPrev(t *testing.T) {
	s, _ := Parse("rate(1 hour)", nil)
	got := Between(s, base, base.Add(48*time.Hour), 100)
	if len(got) != 48 || !got[0].Equal(utc("2024-05-15T11:00:00Z")) || !got[47].Equal(utc("2024-05-17T10:00:00Z")) {
		t.Fatalf("48 hours of rate(1 hour): %d runs from %v", len(got), got)
	}
	if got := Between(s, base, base.Add(48*time.Hour), 5); len(got) != 5 || !got[4].Equal(utc("2024-05-17T10:00:00Z")) {
		t.Fatalf("limited to the last 5: %v", got)
	}
	if p := Prev(s, base, 2*time.Hour); !p.Equal(utc("2024-05-15T10:00:00Z")) {
		t.Fatalf("Prev = %s", p)
	}
	d, _ := Parse("cron(0 5 ? * * *)", nil)
	if p := Prev(d, base, 48*time.Hour); !p.Equal(utc("2024-05-15T05:00:00Z")) {
		t.Fatalf("Prev daily = %s", p)
	}
}

func TestMinInterval(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
	}{
		{"cron(0 5 ? * * *)", 24 * time.Hour},
		{"cron(0 * ? * * *)", time.Hour},
		{"cron(0 0/6 ? * * *)", 6 * time.Hour},
		{"cron(0,30 * ? * * *)", 30 * time.Minute},
		{"cron(0/15 * * * ? *)", 15 * time.Minute},
		{"cron(0 1,23 ? * * *)", 2 * time.Hour},
		{"rate(2 hours)", 2 * time.Hour},
		{"rate(30 minutes)", 30 * time.Minute},
	}
	for _, tt := range tests {
		s, err := Parse(tt.expr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.MinInterval(); got != tt.want {
			t.Errorf("%s: MinInterval = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

func TestBadExpressions(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"cron(0 5 * * * *)", "must be '?'"},
		{"cron(0 5 ? * ? *)", "only one of"},
		{"cron(60 5 ? * * *)", "Minutes field"},
		{"cron(0 24 ? * * *)", "Hours field"},
		{"cron(0 5 32 * ? *)", "Day-of-month field"},
		{"cron(0 5 ? 13 * *)", "Month field"},
		{"cron(0 5 ? * 8 *)", "Day-of-week field"},
		{"cron(0 5 ? * * 1969)", "Year field"},
		{"cron(0 5 ? * 2#6 *)", "N#K"},
		{"cron(0 5 ? * 2W *)", "does not accept"},
		{"cron(0 5 ? *)", "6 fields"},
		{"cron(0 5 ? * * * *)", "6 fields"},
		{"cron(0/0 5 ? * * *)", "step"},
		{"cron(a 5 ? * * *)", "Minutes field"},
		{"0 5 * * ?", "must be cron"},
		{"rate(1 hours)", `"hour"`},
		{"rate(2 hour)", `"hours"`},
		{"rate(0 hours)", "positive"},
		{"rate(5 weeks)", "minute(s), hour(s) or day(s)"},
		{"rate(hour)", "rate(Value Unit)"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error mentioning %q", tt.expr, err, tt.want)
		}
	}
	if _, err := LoadLocation("Mars/Olympus"); err == nil {
		t.Error("unknown time zone accepted")
	}
}
