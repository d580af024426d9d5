package paginate

import (
	"reflect"
	"testing"
)

func TestPage(t *testing.T) {
	items := []int{1, 2, 3, 4, 5}
	var got []int
	token := ""
	pages := 0
	for {
		p, next, ok := Page(items, token, 2)
		if !ok {
			t.Fatalf("token %q refused", token)
		}
		got = append(got, p...)
		pages++
		if next == "" {
			break
		}
		token = next
	}
	if !reflect.DeepEqual(got, items) || pages != 3 {
		t.Fatalf("got %v in %d pages", got, pages)
	}
	if p, next, ok := Page(items, "", 0); !ok || len(p) != 5 || next != "" {
		t.Fatalf("no limit: %v %q %v", p, next, ok)
	}
	for _, bad := range []string{"garbage", "Y29mZmVyOjk5", "Y29mZmVyOi0x"} { // coffer:99, coffer:-1
		if _, _, ok := Page(items, bad, 2); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
}
