package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// boto3Probe exits 0 only where boto3 imports and its botocore's Backup
// model knows restore testing (botocore 1.32 and later): older ones
// cannot call what the tests drive.
const boto3Probe = `import boto3, botocore.session
ops = botocore.session.get_session().get_service_model("backup").operation_names
assert "CreateRestoreTestingPlan" in ops, "botocore " + botocore.__version__ + " predates restore testing"
print(boto3.__version__)`

// Boto3Python is a python3 that has a recent enough boto3: the first of
// PATH's python3, pyenv's versions, and the virtual environment
// scripts/test-deps.sh creates in ~/.cache/coffer/boto3.
func Boto3Python(t testing.TB) string {
	t.Helper()
	candidates := pythonBins("python3")
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".cache", "coffer", "boto3", "bin", "python3"))
	}
	var why []string
	for _, c := range candidates {
		out, err := exec.Command(c, "-c", boto3Probe).CombinedOutput()
		if err == nil {
			return c
		}
		if _, statErr := os.Stat(c); statErr == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			why = append(why, c+": "+lines[len(lines)-1])
		}
	}
	Missing(t, "no python3 with boto3 that knows restore testing (run scripts/test-deps.sh): %s", strings.Join(why, "; "))
	return ""
}
