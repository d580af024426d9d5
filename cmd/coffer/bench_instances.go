package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/clusterenv"
	"github.com/coffer-dev/coffer/internal/demo"
)

func benchInstancesCommand() *cobra.Command {
	var (
		n       int
		class   string
		dataDir string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "instances",
		Short: "Create idle PostgreSQL DB instances, restart coffer, and time until all are available; print each server's memory",
		Long: `Starts coffer serve on a scratch data directory, creates N PostgreSQL
instances of the given class (one server each), stops coffer (which stops
the servers), starts it again and measures the time from the start of
coffer serve until DescribeDBInstances shows every instance available.
Then, after the servers have been idle for 5 s, prints each server's
memory: RSS of the postmaster, the sum of RSS over its processes (shared
memory counted once per process that touched it), and the sum of PSS
(shared pages divided among the processes sharing them: what the server
really costs).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if dataDir == "" {
				d, err := os.MkdirTemp("", "coffer-bench-instances-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dataDir = d
			}
			var log io.Writer = io.Discard
			if verbose {
				log = cmd.ErrOrStderr()
			}
			b := &instancesBench{exe: exe, dir: dataDir, n: n, class: class, out: cmd.OutOrStdout(), log: log}
			return b.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&n, "instances", 20, "number of instances")
	f.StringVar(&class, "class", "db.t3.micro", "DBInstanceClass of the instances")
	f.StringVar(&dataDir, "data-dir", "", "keep the data here instead of a temporary directory")
	f.BoolVar(&verbose, "verbose", false, "show coffer's log")
	return cmd
}

type instancesBench struct {
	exe, dir string
	n        int
	class    string
	out, log io.Writer
	url      string
}

func (b *instancesBench) serve(ctx context.Context) (*clusterenv.Node, error) {
	boot := filepath.Join(b.dir, "bootstrap.yaml")
	if err := os.WriteFile(boot, []byte(demo.Bootstrap), 0o600); err != nil {
		return nil, err
	}
	n, err := clusterenv.StartServe(ctx, b.exe, nil, b.log, "--data-dir", filepath.Join(b.dir, "coffer"), "--bootstrap", boot)
	if err != nil {
		return nil, err
	}
	b.url = n.URL
	return n, nil
}

func stopServe(n *clusterenv.Node) error { return n.Stop(time.Minute) }

func (b *instancesBench) client(ctx context.Context) (*rds.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"), awsconfig.WithBaseEndpoint(b.url),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(b.dir, "coffer", "credentials")}),
		awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedConfigProfile("source"))
	if err != nil {
		return nil, err
	}
	return rds.NewFromConfig(cfg), nil
}

// waitAvailable polls until every instance is available; a failed one
// ends the run.
func waitAvailable(ctx context.Context, c *rds.Client, n int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
		if err != nil {
			return err
		}
		ready := 0
		for _, i := range out.DBInstances {
			switch aws.ToString(i.DBInstanceStatus) {
			case "available":
				ready++
			case "failed":
				msg := ""
				for _, s := range i.StatusInfos {
					msg += aws.ToString(s.Message)
				}
				return fmt.Errorf("instance %s failed: %s", aws.ToString(i.DBInstanceIdentifier), msg)
			}
		}
		if ready == n && len(out.DBInstances) == n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the instances did not all become available within 10 minutes")
}

func (b *instancesBench) run(ctx context.Context) error {
	srv, err := b.serve(ctx)
	if err != nil {
		return err
	}
	c, err := b.client(ctx)
	if err != nil {
		stopServe(srv)
		return err
	}
	// The first create makes the version's template (initdb); the
	// second shows one create on a warm template; the rest go together.
	var took []time.Duration
	for _, batch := range [][2]int{{0, 1}, {1, 2}, {2, b.n}} {
		start := time.Now()
		for i := batch[0]; i < batch[1] && i < b.n; i++ {
			_, err := c.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(fmt.Sprintf("idle-%02d", i)), Engine: aws.String("postgres"),
				DBInstanceClass: aws.String(b.class), MasterUsername: aws.String("app"), MasterUserPassword: aws.String(fmt.Sprintf("bench-secret-%02d", i))})
			if err != nil {
				stopServe(srv)
				return err
			}
		}
		if err := waitAvailable(ctx, c, min(batch[1], b.n)); err != nil {
			stopServe(srv)
			return err
		}
		took = append(took, time.Since(start))
	}
	if err := stopServe(srv); err != nil {
		return fmt.Errorf("stop coffer: %w", err)
	}

	start := time.Now()
	if srv, err = b.serve(ctx); err != nil {
		return err
	}
	defer stopServe(srv)
	if c, err = b.client(ctx); err != nil {
		return err
	}
	if err := waitAvailable(ctx, c, b.n); err != nil {
		return err
	}
	restarted := time.Since(start)
	time.Sleep(5 * time.Second)
	mems, err := serverMemory(filepath.Join(b.dir, "coffer", "pg"))
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "%d idle PostgreSQL instances (%s), one server each\n\n", b.n, b.class)
	fmt.Fprintf(b.out, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(b.out, "| first instance, create until available (includes the template's initdb) | %.1f s |\n", took[0].Seconds())
	fmt.Fprintf(b.out, "| second instance, create until available (template copy, start, roles) | %.1f s |\n", took[1].Seconds())
	fmt.Fprintf(b.out, "| the other %d instances created together, until all available | %.1f s |\n", max(b.n-2, 0), took[2].Seconds())
	fmt.Fprintf(b.out, "| coffer serve start until all %d available | %.1f s |\n", b.n, restarted.Seconds())
	if len(mems) > 0 {
		sum := func(f func(serverMem) int64) (mean, max int64) {
			var total int64
			for _, m := range mems {
				v := f(m)
				total += v
				if v > max {
					max = v
				}
			}
			return total / int64(len(mems)), max
		}
		for _, row := range []struct {
			what string
			f    func(serverMem) int64
		}{
			{"postmaster RSS", func(m serverMem) int64 { return m.postmasterRSS }},
			{"RSS summed over the server's processes", func(m serverMem) int64 { return m.rss }},
			{"PSS summed over the server's processes", func(m serverMem) int64 { return m.pss }},
		} {
			mean, max := sum(row.f)
			fmt.Fprintf(b.out, "| %s per server, mean / max | %.1f / %.1f MiB |\n", row.what, float64(mean)/(1<<20), float64(max)/(1<<20))
		}
		fmt.Fprintf(b.out, "| processes per server | %d |\n", mems[0].procs)
	}
	return nil
}

type serverMem struct {
	procs         int
	postmasterRSS int64
	rss, pss      int64
}

// serverMemory measures every running server under dir (DATA-DIR/pg).
func serverMemory(dir string) ([]serverMem, error) {
	files, err := filepath.Glob(filepath.Join(dir, "db-*", "data", "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []serverMem
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		pm, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		pids := []int{pm}
		if ch, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pm, pm)); err == nil {
			for _, s := range strings.Fields(string(ch)) {
				if p, err := strconv.Atoi(s); err == nil {
					pids = append(pids, p)
				}
			}
		}
		m := serverMem{procs: len(pids)}
		for i, p := range pids {
			rss, pss, err := procMemory(p)
			if err != nil {
				continue // a process that just ended
			}
			if i == 0 {
				m.postmasterRSS = rss
			}
			m.rss += rss
			m.pss += pss
		}
		out = append(out, m)
	}
	return out, nil
}

// procMemory reads Rss and Pss (bytes) from /proc/PID/smaps_rollup.
func procMemory(pid int) (rss, pss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			rss = kb << 10
		case "Pss:":
			pss = kb << 10
		}
	}
	return rss, pss, sc.Err()
}
