package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Bodies read whole below the allowance take nothing from the budget;
// beyond it they take what they hold, and one that would exceed the
// budget is refused with what it took reported for giving back.
func TestReadBodyBudget(t *testing.T) {
	b := &budget{free: 2 * bodyChunk}
	small := strings.Repeat("s", bodyAllowance-1)
	got, held, err := readBody(strings.NewReader(small), b)
	if err != nil || string(got) != small || held != 0 {
		t.Fatalf("small body: %d bytes, held %d, err %v", len(got), held, err)
	}
	big := bytes.Repeat([]byte("b"), bodyAllowance+bodyChunk+1)
	got, held, err = readBody(bytes.NewReader(big), b)
	if err != nil || !bytes.Equal(got, big) || held != 2*bodyChunk {
		t.Fatalf("big body: %d bytes, held %d, err %v", len(got), held, err)
	}
	// The budget is spent: a second big body is refused.
	if _, held2, err := readBody(bytes.NewReader(big), b); !errors.Is(err, errBudget) || held2 != 0 {
		t.Fatalf("over budget: held %d, err %v", held2, err)
	}
	b.give(held)
	if b.free != 2*bodyChunk {
		t.Fatalf("budget after giving back = %d", b.free)
	}
}
