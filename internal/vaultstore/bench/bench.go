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

	"github.com/coffer-dev/coffer/internal/minioserver"
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
	// Each tool starts with no dirty pages left by the one before, whose
	// writeback would otherwise be charged to it.
	syscall.Sync()
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
	tools := []tool{&cofferTool{o: o, name: "coffer"}}
	if !o.SkipPeers {
		tools = append(tools, &resticTool{o: o}, &borgTool{o: o})
	}
	// Steps run tool after tool for each version, so that the tools see
	// the machine in the same state.
	var live []tool
	for _, tl := range tools {
		if err := tl.init(ctx); err != nil {
			notes = append(notes, tl.label()+": "+err.Error())
			continue
		}
		live = append(live, tl)
	}
	failed := map[tool]bool{}
	step := func(f func(tool) (row, error)) {
		for _, tl := range live {
			if failed[tl] {
				continue
			}
			r, err := f(tl)
			if err != nil {
				failed[tl] = true
				notes = append(notes, tl.label()+": "+err.Error())
				continue
			}
			t.rows = append(t.rows, r)
		}
	}
	for i, f := range files {
		step(func(tl tool) (row, error) { return tl.backup(ctx, i, f) })
	}
	step(func(tl tool) (row, error) { return tl.restore(ctx, files[2]) })
	if c := tools[0].(*cofferTool); !failed[c] {
		for i := range 2 {
			r, err := c.copy(ctx, i)
			if err != nil {
				notes = append(notes, "coffer copy: "+err.Error())
				break
			}
			t.rows = append(t.rows, r)
		}
	}
	if !o.SkipMinIO {
		srv, err := minioserver.Start(ctx, minioserver.Server{AccessKey: "coffer-bench", SecretKey: "coffer-bench-secret",
			Region: "us-east-1", Bucket: "coffer-bench", Dir: filepath.Join(o.WorkDir, "minio")})
		if err != nil {
			notes = append(notes, "coffer on MinIO: "+err.Error())
		} else {
			c := &cofferTool{o: o, name: "coffer-minio", srv: srv}
			err := c.init(ctx)
			for i, f := range files {
				if err != nil {
					break
				}
				var r row
				if r, err = c.backup(ctx, i, f); err == nil {
					t.rows = append(t.rows, r)
				}
			}
			if err == nil {
				var r row
				if r, err = c.restore(ctx, files[2]); err == nil {
					t.rows = append(t.rows, r)
				}
			}
			srv.Stop()
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

type tool interface {
	label() string
	init(ctx context.Context) error
	backup(ctx context.Context, i int, file string) (row, error)
	restore(ctx context.Context, file string) (row, error)
}

type cofferTool struct {
	o    Options
	name string
	srv  *minioserver.Server
	repo string
	env  []string
	base []string
	ids  []string
}

func (c *cofferTool) label() string { return c.name }

func (c *cofferTool) init(ctx context.Context) error {
	c.repo = filepath.Join(c.o.WorkDir, c.name)
	c.base = []string{"bench", "storage-worker", "--repo", c.repo}
	if c.srv != nil {
		c.env = []string{"COFFER_BENCH_S3_ACCESS_KEY=" + c.srv.AccessKey, "COFFER_BENCH_S3_SECRET_KEY=" + c.srv.SecretKey}
		c.base = append(c.base, "--s3-endpoint", c.srv.URL, "--s3-bucket", c.srv.Bucket)
	}
	return os.MkdirAll(c.repo, 0o700)
}

func (c *cofferTool) size() int64 {
	if c.srv != nil {
		return dirSize(filepath.Join(c.srv.Dir, "data"))
	}
	return dirSize(c.repo)
}

func (c *cofferTool) worker(ctx context.Context, args ...string) (measured, workerResult, error) {
	var res workerResult
	m, err := run(ctx, c.env, "", c.o.Exe, append(c.base, args...)...)
	if err != nil {
		return m, res, err
	}
	if err := json.Unmarshal(m.out, &res); err != nil {
		return m, res, fmt.Errorf("worker output %q: %w", m.out, err)
	}
	return m, res, nil
}

func (c *cofferTool) backup(ctx context.Context, i int, file string) (row, error) {
	before := c.size()
	m, res, err := c.worker(ctx, "--op", "backup", "--file", file)
	if err != nil {
		return row{}, err
	}
	c.ids = append(c.ids, res.Manifest)
	return row{tool: c.name, what: fmt.Sprintf("backup v%d", i+1), bytes: res.BytesIn, m: m, added: c.size() - before,
		note: fmt.Sprintf("%d/%d chunks reused", res.ChunksReused, res.Chunks)}, nil
}

func (c *cofferTool) restore(ctx context.Context, file string) (row, error) {
	out := filepath.Join(c.o.WorkDir, "restore-"+c.name+".sql")
	defer os.Remove(out)
	m, _, err := c.worker(ctx, "--op", "restore", "--manifest", c.ids[len(c.ids)-1], "--file", out)
	if err != nil {
		return row{}, err
	}
	note := "byte-identical"
	if mustSum(out) != mustSum(file) {
		note = "DIFFERS FROM THE INPUT"
	}
	return row{tool: c.name, what: "restore v3", bytes: c.o.Size, m: m, added: -1, note: note}, nil
}

// copy copies version i+1 into another vault under another key.
func (c *cofferTool) copy(ctx context.Context, i int) (row, error) {
	m, res, err := c.worker(ctx, "--op", "copy", "--manifest", c.ids[i])
	if err != nil {
		return row{}, err
	}
	return row{tool: c.name, what: fmt.Sprintf("copy v%d", i+1), bytes: res.BytesIn, m: m, added: res.BytesWritten,
		note: fmt.Sprintf("to another vault and key: %d/%d chunks reused", res.ChunksReused, res.Chunks)}, nil
}

func mustSum(p string) [32]byte {
	s, _ := fileSum(p)
	return s
}

type resticTool struct {
	o         Options
	bin, repo string
	env       []string
}

func (r *resticTool) label() string { return "restic" }

func (r *resticTool) init(ctx context.Context) error {
	var err error
	if r.bin, err = exec.LookPath("restic"); err != nil {
		return errors.New("restic is not installed (scripts/bench-deps.sh installs Debian's)")
	}
	r.repo = filepath.Join(r.o.WorkDir, "restic")
	r.env = []string{"RESTIC_PASSWORD=coffer-bench", "RESTIC_CACHE_DIR=" + filepath.Join(r.o.WorkDir, "restic-cache")}
	_, err = run(ctx, r.env, "", r.bin, "init", "--repo", r.repo)
	return err
}

func (r *resticTool) backup(ctx context.Context, i int, file string) (row, error) {
	before := dirSize(r.repo)
	m, err := run(ctx, r.env, "", r.bin, "backup", "--repo", r.repo, "--quiet", file)
	if err != nil {
		return row{}, err
	}
	return row{tool: "restic", what: fmt.Sprintf("backup v%d", i+1), bytes: r.o.Size, m: m, added: dirSize(r.repo) - before}, nil
}

func (r *resticTool) restore(ctx context.Context, file string) (row, error) {
	target := filepath.Join(r.o.WorkDir, "restic-restore")
	defer os.RemoveAll(target)
	m, err := run(ctx, r.env, "", r.bin, "restore", "latest", "--repo", r.repo, "--target", target)
	if err != nil {
		return row{}, err
	}
	return row{tool: "restic", what: "restore v3", bytes: r.o.Size, m: m, added: -1}, nil
}

type borgTool struct {
	o         Options
	bin, repo string
	env       []string
}

func (b *borgTool) label() string { return "borg" }

func (b *borgTool) init(ctx context.Context) error {
	var err error
	if b.bin, err = exec.LookPath("borg"); err != nil {
		return errors.New("borg is not installed (scripts/bench-deps.sh installs Debian's borgbackup)")
	}
	b.repo = filepath.Join(b.o.WorkDir, "borg")
	b.env = []string{"BORG_PASSPHRASE=coffer-bench", "BORG_BASE_DIR=" + filepath.Join(b.o.WorkDir, "borg-base")}
	_, err = run(ctx, b.env, "", b.bin, "init", "--encryption=repokey", b.repo)
	return err
}

func (b *borgTool) backup(ctx context.Context, i int, file string) (row, error) {
	before := dirSize(b.repo)
	m, err := run(ctx, b.env, "", b.bin, "create", fmt.Sprintf("%s::v%d", b.repo, i+1), file)
	if err != nil {
		return row{}, err
	}
	return row{tool: "borg", what: fmt.Sprintf("backup v%d", i+1), bytes: b.o.Size, m: m, added: dirSize(b.repo) - before}, nil
}

func (b *borgTool) restore(ctx context.Context, file string) (row, error) {
	target := filepath.Join(b.o.WorkDir, "borg-restore")
	os.MkdirAll(target, 0o700)
	defer os.RemoveAll(target)
	m, err := run(ctx, b.env, target, b.bin, "extract", b.repo+"::v3")
	if err != nil {
		return row{}, err
	}
	return row{tool: "borg", what: "restore v3", bytes: b.o.Size, m: m, added: -1}, nil
}
