package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestSeedCLI runs scripts/e2e/seed-cli.sh, the README's walkthrough,
// with the AWS CLI v2 as the two accounts, against coffer with a
// PostgreSQL instance, querying the restored database with psql.
func TestSeedCLI(t *testing.T) {
	cli := testenv.AWSCLIv2(t)
	testenv.LookPath(t, "psql")
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	w := newWorld(t, nil)
	script, err := filepath.Abs("../../scripts/e2e/seed-cli.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.Env = append(w.c.CLIEnv("default"), "ENDPOINT="+w.c.URL, "AWS_BIN="+cli, "ROWS=500")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("seed-cli.sh: %v\n%s", err, out)
	}
	if testing.Verbose() {
		os.Stdout.Write(out)
	}
}
