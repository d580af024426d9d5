package blob

import (
	"fmt"
	"strings"
)

// TempPrefix starts the names of the temporary files a directory store
// writes before it renames them into place. No object name may have a
// segment that starts with it, so List can tell temporaries apart.
const TempPrefix = ".coffer-tmp-"

// ValidName reports whether name can name an object: a non-empty,
// relative, slash-separated path with no empty, "." or ".." segments, no
// backslashes or NUL bytes, and no segment starting with TempPrefix. Both
// backends enforce the same rules so that names move between them.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("invalid object name %q: empty", name)
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("invalid object name %q: absolute path", name)
	}
	if strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("invalid object name %q: backslash or NUL byte", name)
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("invalid object name %q: empty path segment", name)
		case seg == "." || seg == "..":
			return fmt.Errorf("invalid object name %q: %q segment", name, seg)
		case strings.HasPrefix(seg, TempPrefix):
			return fmt.Errorf("invalid object name %q: segment starts with reserved %q", name, TempPrefix)
		}
	}
	return nil
}
