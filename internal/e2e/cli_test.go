package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestSeedCLI runs scripts/e2e/seed-cli.sh, the README's walkthrough,
// with the AWS CLI v2 as the two accounts, against coffer with a
// PostgreSQL instance, querying the restored database with psql. It runs
// the script as the README shows it: ENDPOINT and the CLI's files set,
// and the CLI found as aws on PATH (AWS_BIN unset).
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
	bin := t.TempDir()
	if err := os.Symlink(cli, filepath.Join(bin, "aws")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	for _, kv := range w.c.CLIEnv("default") {
		if !strings.HasPrefix(kv, "PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+bin+string(filepath.ListSeparator)+os.Getenv("PATH"), "ENDPOINT="+w.c.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("seed-cli.sh: %v\n%s", err, out)
	}
	if testing.Verbose() {
		os.Stdout.Write(out)
	}
}
