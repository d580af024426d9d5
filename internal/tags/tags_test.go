package tags

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	many := map[string]string{}
	for i := 0; i <= Max; i++ {
		many[strings.Repeat("k", i+1)] = "v"
	}
	tests := []struct {
		name    string
		tags    map[string]string
		want    string
		tooMany bool
	}{
		{"fine", map[string]string{"team": "db", "env": ""}, "", false},
		{"too many", many, "at most 50", true},
		{"empty key", map[string]string{"": "v"}, "1 to 128", false},
		{"long key", map[string]string{strings.Repeat("k", 129): "v"}, "1 to 128", false},
		{"long value", map[string]string{"k": strings.Repeat("v", 257)}, "256", false},
		{"aws prefix", map[string]string{"AWS:x": "v"}, "aws:", false},
		{"service prefix", map[string]string{"rds:x": "v"}, "rds:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Validate(tt.tags, "rds:")
			if tt.want == "" {
				if p != nil {
					t.Fatalf("Validate = %v", p)
				}
				return
			}
			if p == nil || !strings.Contains(p.Message, tt.want) || p.TooMany != tt.tooMany {
				t.Fatalf("Validate = %+v, want %q (too many %v)", p, tt.want, tt.tooMany)
			}
		})
	}
}
