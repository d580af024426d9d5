package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
)

// Tool is a located client binary.
type Tool struct {
	Path    string
	Version string // "15.18"
	Major   int    // 15
	Banner  string // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// parseBanner reads the output of `pg_dump --version`.
func parseBanner(out string) (Tool, bool) {
	line := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	m := versionRE.FindStringSubmatch(line)
	if m == nil {
		return Tool{}, false
	}
	major, _ := strconv.Atoi(m[1])
	v := m[1]
	if m[2] != "" {
		v += "." + m[2]
	}
	return Tool{Version: v, Major: major, Banner: line}, true
}

// toolCache remembers `--version` answers by path and modification time.
type toolCache struct {
	mu sync.Mutex
	m  map[string]toolEntry
}

type toolEntry struct {
	mod  time.Time
	tool Tool
	ok   bool
}

func (c *toolCache) probe(ctx context.Context, path string) (Tool, bool) {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return Tool{}, false
	}
	c.mu.Lock()
	e, hit := c.m[path]
	c.mu.Unlock()
	if hit && e.mod.Equal(fi.ModTime()) {
		return e.tool, e.ok
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = toolEnv("")
	out, err := cmd.Output()
	tool, ok := parseBanner(string(out))
	ok = ok && err == nil
	tool.Path = path
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]toolEntry{}
	}
	c.m[path] = toolEntry{mod: fi.ModTime(), tool: tool, ok: ok}
	c.mu.Unlock()
	return tool, ok
}

// find locates name for a server of major version serverMajor. With a
// configured bin directory only that directory is searched; otherwise
// Debian's /usr/lib/postgresql/<major>/bin, then PATH, then the other
// /usr/lib/postgresql/*/bin from the oldest new enough. The first binary
// whose major version is at least the server's wins (pg_dump refuses to
// dump a newer server; a newer pg_dump dumps older servers).
func (e *Engine) find(ctx context.Context, name string, serverMajor int, serverVersion string) (Tool, error) {
	var candidates, looked []string
	if e.binDir != "" {
		candidates = []string{filepath.Join(e.binDir, name)}
		looked = []string{e.binDir}
	} else {
		own := fmt.Sprintf("%s/%d/bin", e.debianRoot, serverMajor)
		candidates = append(candidates, filepath.Join(own, name))
		looked = append(looked, own)
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
		looked = append(looked, "PATH")
		dirs, _ := filepath.Glob(filepath.Join(e.debianRoot, "*", "bin"))
		sort.Slice(dirs, func(i, j int) bool { return dirMajor(dirs[i]) < dirMajor(dirs[j]) })
		for _, d := range dirs {
			if dirMajor(d) > serverMajor {
				candidates = append(candidates, filepath.Join(d, name))
			}
		}
	}
	var old []Tool
	for _, c := range candidates {
		tool, ok := e.tools.probe(ctx, c)
		if !ok {
			continue
		}
		if tool.Major >= serverMajor {
			return tool, nil
		}
		old = append(old, tool)
	}
	install := fmt.Sprintf("install the PostgreSQL %d client tools (Debian/Ubuntu: apt-get install postgresql-client-%d)", serverMajor, serverMajor)
	if e.binDir != "" {
		install += " into " + e.binDir + " or change the configured PostgreSQL bin directory"
	}
	if len(old) > 0 {
		return Tool{}, fmt.Errorf("%w: %s %s at %s is older than the server (PostgreSQL %s) and cannot work with it; %s",
			engine.ErrToolVersion, name, old[0].Version, old[0].Path, serverVersion, install)
	}
	return Tool{}, fmt.Errorf("%w: %s not found (looked in %s); %s", engine.ErrToolMissing, name, strings.Join(looked, ", "), install)
}

func dirMajor(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// toolEnv is the environment for pg_dump and pg_restore: the caller's,
// without any PG* variable that could redirect the connection or supply
// another password, plus the passfile.
func toolEnv(passfile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LC_ALL=C", "PGAPPNAME=coffer", "PGCONNECT_TIMEOUT=15")
	if passfile != "" {
		env = append(env, "PGPASSFILE="+passfile)
	} else {
		env = append(env, "PGPASSFILE="+os.DevNull)
	}
	return env
}

// writePassfile writes a 0600 libpq password file holding password for
// any host, port, database and user (the connection string pins those),
// and returns its path and a function removing it.
func (e *Engine) writePassfile(password string) (string, func(), error) {
	if password == "" {
		return "", func() {}, nil
	}
	f, err := os.CreateTemp(e.tempDir, "coffer-pgpass-")
	if err != nil {
		return "", nil, fmt.Errorf("password file: %w", err)
	}
	remove := func() { os.Remove(f.Name()) }
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(password)
	if strings.ContainsAny(password, "\n\r") {
		f.Close()
		remove()
		return "", nil, errors.New("password file: the password contains a line break, which libpq password files cannot hold")
	}
	_, err = f.WriteString("*:*:*:*:" + esc + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return "", nil, fmt.Errorf("password file: %w", err)
	}
	return f.Name(), remove, nil
}

// tail keeps the last max bytes written to it: a tool's stderr for error
// messages.
type tail struct {
	max int
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

// String is the tool's last output on one line, without the parts where
// PostgreSQL quotes table contents (CONTEXT and DETAIL lines, quoted
// values after ERROR:), so error messages carry no customer data.
func (t *tail) String() string {
	var keep []string
	for _, line := range strings.Split(t.buf.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "CONTEXT:") || strings.HasPrefix(line, "DETAIL:") || strings.HasPrefix(line, "LINE ") {
			continue
		}
		if i := strings.Index(line, "ERROR:"); i >= 0 {
			line = line[:i] + quoted.ReplaceAllString(line[i:], `"…"`)
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, " | ")
}

var quoted = regexp.MustCompile(`"[^"]*"`)
