package paginate

import (
	"strconv"

	"github.com/coffer-dev/coffer/internal/awserr"
)

// Shaped is Page for the JSON services whose list operations take
// MaxResults (1 to 1000) and NextToken: it checks them, cuts the page and
// shapes its items; the next token is nil on the last page.
func Shaped[T, S any](items []T, token, maxResults string, shape func(T) S) ([]S, *string, error) {
	limit := 1000
	if maxResults != "" {
		n, err := strconv.Atoi(maxResults)
		if err != nil || n < 1 || n > 1000 {
			return nil, nil, awserr.New(awserr.Invalid, "InvalidParameterValueException", "MaxResults must be a number from 1 to 1000, not %q", maxResults)
		}
		limit = n
	}
	return Limited(items, token, limit, shape)
}

// Limited is Shaped for a MaxResults already decoded and checked against
// the operation's model (0 when the request has none: up to 1000).
func Limited[T, S any](items []T, token string, maxResults int, shape func(T) S) ([]S, *string, error) {
	if maxResults == 0 {
		maxResults = 1000
	}
	items, next, ok := Page(items, token, maxResults)
	if !ok {
		return nil, nil, awserr.New(awserr.Invalid, "InvalidParameterValueException", "NextToken is not a token this service issued")
	}
	out := make([]S, 0, len(items))
	for _, it := range items {
		out = append(out, shape(it))
	}
	if next == "" {
		return out, nil, nil
	}
	return out, &next, nil
}
