package protocol

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestEpochRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"whole seconds", time.Unix(1700000000, 0), "1700000000"},
		{"milliseconds", time.UnixMilli(1700000000123), "1700000000.123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Epoch(tt.in))
			if err != nil || string(b) != tt.want {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.want)
			}
			var back Epoch
			if err := json.Unmarshal(b, &back); err != nil || !time.Time(back).Equal(tt.in) {
				t.Fatalf("Unmarshal = %v, %v; want %v", time.Time(back), err, tt.in)
			}
		})
	}
	var e Epoch
	if err := json.Unmarshal([]byte(`"yesterday"`), &e); err == nil {
		t.Fatal("a string timestamp was accepted")
	}
}

func TestQueryMembers(t *testing.T) {
	form := url.Values{"Tags.member.1": {"a"}, "Tags.member.2": {"b"}, "Tags.member.4": {"gap"}, "Ids.1": {"x"}}
	if got, want := QueryMembers(form, "Tags", "member"), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
	if got, want := QueryMembers(form, "Ids", ""), []string{"x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ids = %v, want %v", got, want)
	}
	if got := QueryMembers(form, "None", "member"); got != nil {
		t.Errorf("None = %v, want nil", got)
	}
}
