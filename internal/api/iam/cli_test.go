package iam_test

import (
	"os/exec"

	"github.com/coffer-dev/coffer/internal/testenv"
)

func runCLI(cli string, c *testenv.Coffer, profile string, args ...string) (string, error) {
	cmd := exec.Command(cli, append([]string{"--endpoint-url", c.URL}, args...)...)
	cmd.Env = c.CLIEnv(profile)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
