// Package paginate cuts list results into pages for the API adapters:
// IAM's Marker/MaxItems and the NextToken/MaxResults of JSON services.
// A token is the opaque, base64-encoded offset of the next item.
package paginate

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Page returns items[start:start+limit] where start comes from token
// (empty for the first page), and the token of the next page, "" on the
// last one. ok is false when the token was not issued by Page.
func Page[T any](items []T, token string, limit int) (page []T, next string, ok bool) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(b), "coffer:") {
			return nil, "", false
		}
		n, err := strconv.Atoi(strings.TrimPrefix(string(b), "coffer:"))
		if err != nil || n < 0 || n > len(items) {
			return nil, "", false
		}
		start = n
	}
	end := len(items)
	if limit > 0 && start+limit < end {
		end = start + limit
		next = base64.RawURLEncoding.EncodeToString([]byte("coffer:" + strconv.Itoa(end)))
	}
	return items[start:end], next, true
}
