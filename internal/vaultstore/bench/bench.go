// Package bench is `coffer bench storage`: it generates a pg_dump-style
// stream in three versions (dumpgen), backs each up with coffer, restic
// and borg on local disk, then with coffer on MinIO over loopback, and
// prints backup throughput, CPU, peak RSS, bytes added, restore
// throughput and copy-to-another-domain cost. Every tool runs as a child
// process so CPU time and peak RSS come from the same rusage.
package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
)

// Options configure a run.
type Options struct {
	Size    int64  // bytes per version
	WorkDir string // scratch space (default: a temp dir, removed after)
	Keep    bool   // keep WorkDir
	// Exe is the coffer binary that runs the worker ("coffer bench
	// storage-worker").
	Exe       string
	SkipPeers bool
	SkipMinIO bool
	Out       io.Writer
}

// measured is one child process run.
type measured struct {
	wall   time.Duration
	cpu    time.Duration
	maxRSS int64 // bytes
	out    []byte
}

func run(ctx context.Context, env []string, dir string, name string, args ...string) (measured, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	m := measured{wall: time.Since(start), out: out}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		m.maxRSS = ru.Maxrss * 1024
	}
	if err != nil {
		return m, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return m, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func fileSum(p string) ([32]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var s [32]byte
	h.Sum(s[:0])
	return s, nil
}

// row is one line of the table.
type row struct {
	tool, what string
	bytes      int64 // stream bytes processed
	m          measured
	added      int64 // bytes added to the repository (-1: n/a)
	note       string
}

type table struct{ rows []row }

func mbps(b int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) / 1e6 / d.Seconds()
}

func (t *table) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tstep\twall s\tMB/s\tCPU s\tpeak RSS MiB\tadded MiB\tnote\t")
	for _, r := range t.rows {
		added := "-"
		if r.added >= 0 {
			added = fmt.Sprintf("%.1f", float64(r.added)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.1f\t%.2f\t%.0f\t%s\t%s\t\n", r.tool, r.what, r.m.wall.Seconds(), mbps(r.bytes, r.m.wall),
			r.m.cpu.Seconds(), float64(r.m.maxRSS)/(1<<20), added, r.note)
	}
	tw.Flush()
}

func (t *table) find(tool, what string) *row {
	for i := range t.rows {
		if t.rows[i].tool == tool && t.rows[i].what == what {
			return &t.rows[i]
		}
	}
	return nil
}

// Run runs the benchmark and prints the table to o.Out.
func Run(ctx context.Context, o Options) error {
	if o.Size <= 0 {
		o.Size = 1 << 30
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "coffer-bench-")
		if err != nil {
			return err
		}
		o.WorkDir = d
		if !o.Keep {
			defer os.RemoveAll(d)
		}
	}
	if err := os.MkdirAll(o.WorkDir, 0o700); err != nil {
		return err
	}
	w := o.Out
	fmt.Fprintf(w, "coffer bench storage: %d MiB pg_dump-style stream, 3 versions (v2: 2%% of rows changed in clusters, v3: 2%% more at random), work dir %s\n",
		o.Size>>20, o.WorkDir)
	files := make([]string, 3)
	for v := 1; v <= 3; v++ {
		files[v-1] = filepath.Join(o.WorkDir, fmt.Sprintf("dump-v%d.sql", v))
		f, err := os.Create(files[v-1])
		if err != nil {
			return err
		}
		_, err = io.Copy(f, dumpgen.Reader(v, o.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("generate version %d: %w", v, err)
		}
	}
	t := &table{}
	var notes []string
	if err := runCoffer(ctx, o, t, "coffer", files, nil); err != nil {
		return err
	}
	if !o.SkipPeers {
		if err := runRestic(ctx, o, t, files); err != nil {
			notes = append(notes, "restic: "+err.Error())
		}
		if err := runBorg(ctx, o, t, files); err != nil {
			notes = append(notes, "borg: "+err.Error())
		}
	}
	if !o.SkipMinIO {
		srv, err := startMinIO(ctx, filepath.Join(o.WorkDir, "minio"))
		if err != nil {
			notes = append(notes, "coffer on MinIO: "+err.Error())
		} else {
			err = runCoffer(ctx, o, t, "coffer-minio", files, srv)
			srv.stop()
			if err != nil {
				notes = append(notes, "coffer on MinIO: "+err.Error())
			}
		}
	}
	fmt.Fprintln(w)
	t.print(w)
	fmt.Fprintln(w)
	targets(w, t)
	for _, n := range notes {
		fmt.Fprintln(w, "NOT RUN:", n)
	}
	return nil
}

// targets prints the targets against the measurements.
func targets(w io.Writer, t *table) {
	check := func(name string, ok bool, detail string) {
		mark := "MET"
		if !ok {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "%-6s %s (%s)\n", mark, name, detail)
	}
	c1, r1, b1 := t.find("coffer", "backup v1"), t.find("restic", "backup v1"), t.find("borg", "backup v1")
	if c1 != nil && r1 != nil {
		check("backup throughput >= 4x restic", mbps(c1.bytes, c1.m.wall) >= 4*mbps(r1.bytes, r1.m.wall),
			fmt.Sprintf("%.1f vs %.1f MB/s", mbps(c1.bytes, c1.m.wall), mbps(r1.bytes, r1.m.wall)))
		if rss := t.find("restic", "backup v1"); rss != nil {
			check("peak RSS <= restic's", c1.m.maxRSS <= rss.m.maxRSS, fmt.Sprintf("%.0f vs %.0f MiB", float64(c1.m.maxRSS)/(1<<20), float64(rss.m.maxRSS)/(1<<20)))
		}
	}
	if c1 != nil && b1 != nil {
		check("backup throughput >= 1.5x borg", mbps(c1.bytes, c1.m.wall) >= 1.5*mbps(b1.bytes, b1.m.wall),
			fmt.Sprintf("%.1f vs %.1f MB/s", mbps(c1.bytes, c1.m.wall), mbps(b1.bytes, b1.m.wall)))
	}
	if c2, r2 := t.find("coffer", "backup v2"), t.find("restic", "backup v2"); c2 != nil && r2 != nil {
		check("bytes added by the clustered version <= 1/5 of restic's", c2.added*5 <= r2.added,
			fmt.Sprintf("%.1f vs %.1f MiB", float64(c2.added)/(1<<20), float64(r2.added)/(1<<20)))
	}
	if cr, rr := t.find("coffer", "restore v3"), t.find("restic", "restore v3"); cr != nil && rr != nil {
		check("restore >= 1.5x restic", mbps(cr.bytes, cr.m.wall) >= 1.5*mbps(rr.bytes, rr.m.wall),
			fmt.Sprintf("%.1f vs %.1f MB/s", mbps(cr.bytes, cr.m.wall), mbps(rr.bytes, rr.m.wall)))
	}
	if cc := t.find("coffer", "copy v2"); cc != nil {
		check("copy into a domain holding most chunks writes <= 15% of the stream", cc.added*100 <= cc.bytes*15,
			fmt.Sprintf("%.1f MiB written for a %.0f MiB stream", float64(cc.added)/(1<<20), float64(cc.bytes)/(1<<20)))
	}
}

// workerResult is what `coffer bench storage-worker` prints.
type workerResult struct {
	Manifest     string `json:"manifest"`
	BytesIn      int64  `json:"bytesIn"`
	BytesWritten int64  `json:"bytesWritten"`
	ChunksReused int64  `json:"chunksReused"`
	Chunks       int64  `json:"chunks"`
}

func runCoffer(ctx context.Context, o Options, t *table, tool string, files []string, srv *minioServer) error {
	repo := filepath.Join(o.WorkDir, tool)
	if err := os.MkdirAll(repo, 0o700); err != nil {
		return err
	}
	var env []string
	base := []string{"bench", "storage-worker", "--repo", repo}
	sizeOf := func() int64 { return dirSize(repo) }
	if srv != nil {
		env = srv.env()
		base = append(base, "--s3-endpoint", srv.url, "--s3-bucket", srv.bucket)
		sizeOf = func() int64 { return dirSize(srv.dir) }
	}
	var ids []string
	for i, f := range files {
		before := sizeOf()
		m, err := run(ctx, env, "", o.Exe, append(base, "--op", "backup", "--file", f)...)
		if err != nil {
			return err
		}
		var res workerResult
		if err := json.Unmarshal(m.out, &res); err != nil {
			return fmt.Errorf("worker output %q: %w", m.out, err)
		}
		ids = append(ids, res.Manifest)
		t.rows = append(t.rows, row{tool: tool, what: fmt.Sprintf("backup v%d", i+1), bytes: res.BytesIn, m: m, added: sizeOf() - before,
			note: fmt.Sprintf("%d/%d chunks reused", res.ChunksReused, res.Chunks)})
	}
	out := filepath.Join(o.WorkDir, "restore-"+tool+".sql")
	m, err := run(ctx, env, "", o.Exe, append(base, "--op", "restore", "--manifest", ids[2], "--file", out)...)
	if err != nil {
		return err
	}
	note := "byte-identical"
	if a, b := mustSum(out), mustSum(files[2]); a != b {
		note = "DIFFERS FROM THE INPUT"
	}
	os.Remove(out)
	t.rows = append(t.rows, row{tool: tool, what: "restore v3", bytes: o.Size, m: m, added: -1, note: note})
	if srv != nil {
		return nil
	}
	for i, id := range ids[:2] {
		m, err := run(ctx, env, "", o.Exe, append(base, "--op", "copy", "--manifest", id)...)
		if err != nil {
			return err
		}
		var res workerResult
		json.Unmarshal(m.out, &res)
		t.rows = append(t.rows, row{tool: tool, what: fmt.Sprintf("copy v%d", i+1), bytes: res.BytesIn, m: m, added: res.BytesWritten,
			note: fmt.Sprintf("to another vault and key: %d/%d chunks reused", res.ChunksReused, res.Chunks)})
	}
	return nil
}

func mustSum(p string) [32]byte {
	s, _ := fileSum(p)
	return s
}

func runRestic(ctx context.Context, o Options, t *table, files []string) error {
	bin, err := exec.LookPath("restic")
	if err != nil {
		return errors.New("restic is not installed (scripts/bench-deps.sh installs Debian's)")
	}
	repo := filepath.Join(o.WorkDir, "restic")
	env := []string{"RESTIC_PASSWORD=coffer-bench", "RESTIC_CACHE_DIR=" + filepath.Join(o.WorkDir, "restic-cache")}
	if _, err := run(ctx, env, "", bin, "init", "--repo", repo); err != nil {
		return err
	}
	for i, f := range files {
		before := dirSize(repo)
		m, err := run(ctx, env, "", bin, "backup", "--repo", repo, "--quiet", f)
		if err != nil {
			return err
		}
		t.rows = append(t.rows, row{tool: "restic", what: fmt.Sprintf("backup v%d", i+1), bytes: o.Size, m: m, added: dirSize(repo) - before})
	}
	target := filepath.Join(o.WorkDir, "restic-restore")
	m, err := run(ctx, env, "", bin, "restore", "latest", "--repo", repo, "--target", target)
	if err != nil {
		return err
	}
	os.RemoveAll(target)
	t.rows = append(t.rows, row{tool: "restic", what: "restore v3", bytes: o.Size, m: m, added: -1})
	return nil
}

func runBorg(ctx context.Context, o Options, t *table, files []string) error {
	bin, err := exec.LookPath("borg")
	if err != nil {
		return errors.New("borg is not installed (scripts/bench-deps.sh installs Debian's borgbackup)")
	}
	repo := filepath.Join(o.WorkDir, "borg")
	env := []string{"BORG_PASSPHRASE=coffer-bench", "BORG_BASE_DIR=" + filepath.Join(o.WorkDir, "borg-base"), "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes"}
	if _, err := run(ctx, env, "", bin, "init", "--encryption=repokey", repo); err != nil {
		return err
	}
	for i, f := range files {
		before := dirSize(repo)
		m, err := run(ctx, env, "", bin, "create", fmt.Sprintf("%s::v%d", repo, i+1), f)
		if err != nil {
			return err
		}
		t.rows = append(t.rows, row{tool: "borg", what: fmt.Sprintf("backup v%d", i+1), bytes: o.Size, m: m, added: dirSize(repo) - before})
	}
	target := filepath.Join(o.WorkDir, "borg-restore")
	os.MkdirAll(target, 0o700)
	m, err := run(ctx, env, target, bin, "extract", repo+"::v3")
	if err != nil {
		return err
	}
	os.RemoveAll(target)
	t.rows = append(t.rows, row{tool: "borg", what: "restore v3", bytes: o.Size, m: m, added: -1})
	return nil
}
