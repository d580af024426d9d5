package rootkey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// The check value is checkText sealed under the root key with additional
// data checkAAD, in the provider's own sealed format. The metadata store
// keeps it; a provider that opens it back to checkText holds the key the
// store's secrets are sealed with.
const (
	checkText = "coffer root key check v1"
	checkAAD  = "coffer/root-key-check"
)

// ErrMismatch is returned by Verify when the provider's key is not the
// one that sealed the check value.
var ErrMismatch = errors.New("rootkey: the root key does not open the key check value")

// CheckValue seals the check value under p's key.
func CheckValue(ctx context.Context, p Provider) ([]byte, error) {
	v, err := p.Seal(ctx, []byte(checkText), []byte(checkAAD))
	if err != nil {
		return nil, fmt.Errorf("seal the root key check value: %w", err)
	}
	return v, nil
}

// Verify reports whether p's key opens check, a value CheckValue made.
func Verify(ctx context.Context, p Provider, check []byte) error {
	pt, err := p.Open(ctx, check, []byte(checkAAD))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	if !bytes.Equal(pt, []byte(checkText)) {
		return ErrMismatch
	}
	return nil
}
