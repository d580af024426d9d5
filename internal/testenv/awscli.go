package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AWSCLIv2 is Debian's AWS CLI v2 (package awscli).
func AWSCLIv2(t testing.TB) string {
	t.Helper()
	return awsCLI(t, 2, []string{"/usr/bin/aws"})
}

// AWSCLIv1 is the AWS CLI v1 that the machine's Python provides (the
// default aws on PATH).
func AWSCLIv1(t testing.TB) string {
	t.Helper()
	candidates := pythonBins("aws")
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".local", "bin", "aws"))
	}
	return awsCLI(t, 1, candidates)
}

// pythonBins are the places of a binary of the machine's Python: each
// PATH directory, then pyenv's versions, where a non-login shell's PATH
// leaves pyenv out.
func pythonBins(name string) []string {
	var out []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		out = append(out, filepath.Join(dir, name))
	}
	if home, err := os.UserHomeDir(); err == nil {
		found, _ := filepath.Glob(filepath.Join(home, ".pyenv", "versions", "*", "bin", name))
		out = append(out, found...)
	}
	return out
}

func awsCLI(t testing.TB, major int, candidates []string) string {
	t.Helper()
	want := "aws-cli/" + string(rune('0'+major)) + "."
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").CombinedOutput()
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(out)), want) {
			return c
		}
	}
	Missing(t, "AWS CLI v%d not found (looked at %s)", major, strings.Join(candidates, ", "))
	return ""
}

// CLIEnv is an environment for running the AWS CLI against c with only
// the given profile files, none of the developer's own settings.
func (c *Coffer) CLIEnv(profile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AWS_SHARED_CREDENTIALS_FILE="+c.CredentialsFile,
		"AWS_CONFIG_FILE="+c.ConfigFile,
		"AWS_PROFILE="+profile,
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	if c.CAFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+c.CAFile)
	}
	return env
}
