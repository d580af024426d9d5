package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Rows is what Answer reads of a driver's result set.
type Rows interface {
	Next() bool
	Err() error
}

// Answer reads a validation query's answer from its result set: the
// first column of the first row, as Truthy interprets it. values returns
// the current row's columns, as the driver decodes them.
func Answer(rows Rows, values func() ([]any, error)) (bool, error) {
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("validation query: %w", err)
		}
		return false, errors.New("the validation query returned no row")
	}
	vals, err := values()
	if err != nil {
		return false, fmt.Errorf("validation query: %w", err)
	}
	if len(vals) == 0 {
		return false, errors.New("the validation query returned no column")
	}
	return Truthy(vals[0])
}

// Truthy interprets the first column of a validation query's first row:
// a boolean, a non-zero number, or the text true/t/1 (any case) is true;
// false, zero, false/f/0 are false; anything else (NULL included) is an
// error, so a query that does not answer the question fails visibly.
func Truthy(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case int32:
		return x != 0, nil
	case int16:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case []byte:
		return Truthy(string(x))
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "1":
			return true, nil
		case "false", "f", "0":
			return false, nil
		}
		return false, fmt.Errorf("the validation query returned %q, not true or false", x)
	case nil:
		return false, fmt.Errorf("the validation query returned NULL, not true or false")
	}
	return false, fmt.Errorf("the validation query returned a %T, not true or false", v)
}
