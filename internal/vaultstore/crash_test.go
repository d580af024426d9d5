package vaultstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

var crashDomain = vaultstore.Domain{Region: "us-east-1", Vault: "crash", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/crash"}

// crashStream is the stream a child writes for seed: a version of the
// dump with a seeded size, so streams share most chunks.
func crashStream(seed uint64) io.Reader {
	rng := rand.New(rand.NewPCG(seed, 1))
	return dumpgen.Reader(1+int(seed%3), int64(256<<10+rng.IntN(3<<20)))
}

func openCrashEngine(dir string, now func() time.Time) (*vaultstore.Engine, error) {
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		return nil, err
	}
	keys, err := localkeys.LoadOrCreate(filepath.Join(dir, "kek"))
	if err != nil {
		return nil, err
	}
	return vaultstore.Open(db, keys, dirStores(filepath.Join(dir, "regions")), vaultstore.Options{PackSize: 512 << 10, Lease: 3 * time.Second, Now: now})
}

func appendLog(dir, line string) error {
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		return err
	}
	return f.Sync()
}

type logEntry struct {
	seed    uint64
	deleted bool
}

func readLog(dir string) (map[vaultstore.ManifestID]*logEntry, error) {
	out := map[vaultstore.ManifestID]*logEntry{}
	f, err := os.Open(filepath.Join(dir, "log"))
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue // a line torn by the kill
		}
		id := vaultstore.ManifestID(fs[1])
		switch fs[0] {
		case "committed":
			seed, _ := strconv.ParseUint(fs[2], 10, 64)
			out[id] = &logEntry{seed: seed}
		case "deleting":
			if e := out[id]; e != nil {
				e.deleted = true
			}
		}
	}
	return out, sc.Err()
}

// TestMain runs the crash test's children: a process started with
// COFFER_CRASH_DIR set is a writer or a collector that works until
// TestCrash kills it, and never runs the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv("COFFER_CRASH_DIR"); dir != "" {
		if err := crashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1) // a child only ends by being killed
	}
	os.Exit(m.Run())
}

func crashChild(dir string) error {
	seed, _ := strconv.ParseUint(os.Getenv("COFFER_CRASH_SEED"), 10, 64)
	e, err := openCrashEngine(dir, nil)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 2))
	switch role := os.Getenv("COFFER_CRASH_ROLE"); role {
	case "writer":
		for i := uint64(0); ; i++ {
			s := seed*1000 + i
			w, err := e.NewWriter(ctx, crashDomain, nil)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, crashStream(s)); err != nil {
				return err
			}
			id, _, err := w.Commit(ctx)
			if err != nil {
				return err
			}
			if err := appendLog(dir, fmt.Sprintf("committed %s %d", id, s)); err != nil {
				return err
			}
		}
	case "gc":
		for {
			// Now and then delete one of the recovery points, keeping a few.
			log, err := readLog(dir)
			if err != nil {
				return err
			}
			var live []vaultstore.ManifestID
			for id, le := range log {
				if !le.deleted {
					live = append(live, id)
				}
			}
			if len(live) > 8 && rng.IntN(4) == 0 {
				id := live[rng.IntN(len(live))]
				if err := appendLog(dir, fmt.Sprintf("deleting %s 0", id)); err != nil {
					return err
				}
				e.DeleteManifest(ctx, id)
			}
			if _, err := e.GC(ctx, "", "", vaultstore.GCOptions{Grace: time.Nanosecond, DeleteDelay: time.Nanosecond, RepackWaste: 0.2}); err != nil && err != vaultstore.ErrGCBusy {
				fmt.Fprintln(os.Stderr, "gc:", err)
			}
		}
	default:
		return fmt.Errorf("unknown crash role %q", role)
	}
}

// TestCrash kills a writer and a collector with SIGKILL at random points,
// many times; afterwards verify passes and every committed recovery
// point reads back byte-identical.
func TestCrash(t *testing.T) {
	iters := 15
	if testing.Short() {
		iters = 4
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for i := 0; i < iters; i++ {
		var procs []*exec.Cmd
		for _, role := range []string{"writer", "gc"} {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "COFFER_CRASH_DIR="+dir, "COFFER_CRASH_ROLE="+role, fmt.Sprintf("COFFER_CRASH_SEED=%d", i))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs = append(procs, cmd)
			defer func() {
				if t.Failed() {
					t.Logf("%s output:\n%s", role, out.String())
				}
			}()
		}
		for _, p := range procs {
			time.Sleep(time.Duration(200+rng.IntN(2500)) * time.Millisecond)
			p.Process.Signal(syscall.SIGKILL)
		}
		for _, p := range procs {
			err := p.Wait()
			if ws, ok := p.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("child ended by itself: %v", err)
			}
		}
	}
	// Recover: expire the dead writers' leases and collect.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	e, err := openCrashEngine(dir, later)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := e.GC(ctx, "", "", vaultstore.GCOptions{Grace: time.Nanosecond, DeleteDelay: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovery GC: %+v", st)
	rep, err := e.Verify(ctx, vaultstore.VerifyOptions{DataPercent: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("verify: %s", p)
	}
	log, err := readLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for id, le := range log {
		if le.deleted {
			continue
		}
		r, err := e.OpenReader(ctx, id)
		if err != nil {
			t.Fatalf("committed recovery point %s: %v", id, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		want, _ := io.ReadAll(crashStream(le.seed))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("committed recovery point %s reads back differently: %v", id, err)
		}
		checked++
	}
	t.Logf("%d iterations, %d committed recovery points checked, %d manifests, %d packs verified", iters, checked, rep.Manifests, rep.PacksChecked)
	if checked == 0 {
		t.Fatal("no recovery point was committed before the kills; lengthen the runs")
	}
}
