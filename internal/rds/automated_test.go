package rds

import (
	"testing"
	"time"
)

func TestBackupWindow(t *testing.T) {
	for _, w := range []string{"3:00-03:30", "03:00-03:29", "24:00-00:30", "03:00", "03:00-03:60", "23:50-00:10"} {
		if err := validBackupWindow(w); err == nil {
			t.Errorf("window %q accepted", w)
		}
	}
	for _, w := range []string{"", "03:00-03:30", "23:45-00:15", "00:00-23:59"} {
		if err := validBackupWindow(w); err != nil {
			t.Errorf("window %q: %v", w, err)
		}
	}
	at := func(hm string) time.Time {
		t0, err := time.Parse("15:04", hm)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 12, 3, t0.Hour(), t0.Minute(), 0, 0, time.UTC)
	}
	for _, c := range []struct {
		w, at string
		in    bool
	}{
		{"03:00-03:30", "03:00", true}, {"03:00-03:30", "03:29", true}, {"03:00-03:30", "03:30", false}, {"03:00-03:30", "02:59", false},
		{"23:45-00:15", "23:50", true}, {"23:45-00:15", "00:10", true}, {"23:45-00:15", "00:15", false}, {"23:45-00:15", "12:00", false},
	} {
		if got := InBackupWindow(c.w, at(c.at)); got != c.in {
			t.Errorf("InBackupWindow(%s, %s) = %v", c.w, c.at, got)
		}
	}
	for range 50 {
		w := defaultBackupWindow()
		start, end, err := parseBackupWindow(w)
		if err != nil || start < 3*60 || end > 11*60 || end-start != 30 {
			t.Fatalf("default window %s: %d-%d %v", w, start, end, err)
		}
	}
}
