package demo

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// The demo runs the whole walkthrough and every check passes, on both
// engines, in a data directory that does not exist yet (the demo creates
// it, as coffer serve does).
func TestDemo(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "postgres" {
				if _, err := testenv.PostgresBinDir(); err != nil {
					testenv.Missing(t, "%v", err)
				}
			}
			var out bytes.Buffer
			err := Run(context.Background(), Options{Engine: engine, Rows: 300, DataDir: filepath.Join(t.TempDir(), "not", "yet"), Out: &out})
			if err != nil {
				t.Fatalf("demo failed: %v\n%s", err, out.String())
			}
			for _, want := range []string{"All 12 checks passed", "validation SUCCESSFUL", "key: refused (AccessDeniedException)", "create a " + engine + " DB instance"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestDemoRejectsUnknownEngine(t *testing.T) {
	if err := Run(context.Background(), Options{Engine: "mysql", Out: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Fatalf("err = %v", err)
	}
}
