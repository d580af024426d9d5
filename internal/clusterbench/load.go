package clusterbench

import (
	"context"
	"errors"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/smithy-go"
)

// op is one kind of call of the mixed API load.
type op struct {
	name string
	call func(ctx context.Context, c *clients) error
}

func (b *bench) ops() []op {
	fx := &b.fx
	instance := func() string { return fx.instances[rand.IntN(len(fx.instances))].ID }
	return []op{
		{"backup:ListBackupJobs", func(ctx context.Context, c *clients) error {
			_, err := c.backup.ListBackupJobs(ctx, &backup.ListBackupJobsInput{MaxResults: aws.Int32(20)})
			return err
		}},
		{"backup:ListBackupVaults", func(ctx context.Context, c *clients) error {
			_, err := c.backup.ListBackupVaults(ctx, &backup.ListBackupVaultsInput{})
			return err
		}},
		{"backup:DescribeBackupVault", func(ctx context.Context, c *clients) error {
			_, err := c.backup.DescribeBackupVault(ctx, &backup.DescribeBackupVaultInput{BackupVaultName: aws.String(fx.vault)})
			return err
		}},
		{"backup:ListRecoveryPointsByBackupVault", func(ctx context.Context, c *clients) error {
			_, err := c.backup.ListRecoveryPointsByBackupVault(ctx, &backup.ListRecoveryPointsByBackupVaultInput{BackupVaultName: aws.String(fx.vault), MaxResults: aws.Int32(20)})
			return err
		}},
		{"backup:DescribeBackupJob", func(ctx context.Context, c *clients) error {
			_, err := c.backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(b.recentJob())})
			return err
		}},
		{"rds:DescribeDBInstances", func(ctx context.Context, c *clients) error {
			_, err := c.rds.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(instance())})
			return err
		}},
		{"kms:Encrypt", func(ctx context.Context, c *clients) error {
			_, err := c.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(fx.key), Plaintext: []byte("coffer bench cluster: a small secret")})
			return err
		}},
		{"kms:Decrypt", func(ctx context.Context, c *clients) error {
			_, err := c.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: fx.ciphertext})
			return err
		}},
		{"kms:DescribeKey", func(ctx context.Context, c *clients) error {
			_, err := c.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(fx.key)})
			return err
		}},
	}
}

// calls tallies API calls: latencies by operation, errors by code.
type calls struct {
	mu        sync.Mutex
	latencies map[string][]time.Duration
	errors    map[string]int // "503 ServiceUnavailable", "connection", ...
	status5xx int
}

func newCalls() *calls {
	return &calls{latencies: map[string][]time.Duration{}, errors: map[string]int{}}
}

// record adds one call's outcome.
func (t *calls) record(name string, took time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latencies[name] = append(t.latencies[name], took)
	if err == nil {
		return
	}
	code, status := classify(err)
	t.errors[code]++
	if status >= 500 {
		t.status5xx++
	}
}

// classify names an error by HTTP status and AWS error code; one that
// got no answer is "connection" (refused or cut: the node was killed) or
// "timeout".
func classify(err error) (string, int) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		code := "unknown"
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		return strconv.Itoa(re.HTTPStatusCode()) + " " + code, re.HTTPStatusCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout", 0
	}
	return "connection", 0
}

// runLoad sends rate calls a second, round robin over ops and the nodes
// that are up, until ctx ends; a call is sent whether or not the previous
// ones answered (an open loop), up to maxInFlight at once.
func (b *bench) runLoad(ctx context.Context, lb *balancer, t *calls, notSent *atomic.Int64) {
	const maxInFlight = 2000
	ops := b.ops()
	tick := time.NewTicker(time.Second / time.Duration(b.o.Rate))
	defer tick.Stop()
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			notSent.Add(1)
			continue
		}
		o, n := ops[i%len(ops)], lb.pick()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := o.call(cctx, n.clients)
			t.record(o.name, time.Since(start), err)
		}()
	}
}

// job is one backup job's outcome.
type job struct {
	id, instance, state, message string
	// ended is when the job was seen to end, since the load started;
	// took how long after its start.
	ended, took time.Duration
}

// placementMessage matches the StatusMessage of a job that failed because
// the coffer node holding its instance's server was away.
var placementMessage = regexp.MustCompile(`(?i)coffer node`)

// runJobs keeps b.o.Jobs backup jobs in flight until ctx ends, then lets
// the jobs in flight end (within drain) and returns every job's outcome.
// Worker w backs up instance w mod N, one job after the other, so with as
// many instances as jobs no instance has two backups at once.
func (b *bench) runJobs(ctx context.Context, drain context.Context, lb *balancer, t *calls, t0 time.Time) []job {
	var (
		mu   sync.Mutex
		jobs []job
		wg   sync.WaitGroup
	)
	for w := 0; w < b.o.Jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := b.fx.instances[w%len(b.fx.instances)]
			for ctx.Err() == nil {
				started := time.Now()
				id := b.startJob(ctx, lb, t, inst.ARN)
				if id == "" {
					continue
				}
				j := b.waitJob(drain, lb, t, id)
				j.instance, j.ended, j.took = inst.ID, time.Since(t0), time.Since(started)
				mu.Lock()
				jobs = append(jobs, j)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].ended < jobs[k].ended })
	return jobs
}

// startJob starts a backup job through a node that is up, trying again
// (each failure counted) until one answers or ctx ends.
func (b *bench) startJob(ctx context.Context, lb *balancer, t *calls, arn string) string {
	for ctx.Err() == nil {
		n := lb.pick()
		start := time.Now()
		out, err := n.clients.backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String(b.fx.vault), ResourceArn: aws.String(arn), IamRoleArn: aws.String(b.fx.role)})
		if ctx.Err() != nil {
			return ""
		}
		t.record("backup:StartBackupJob", time.Since(start), err)
		if err == nil {
			b.setRecentJob(aws.ToString(out.BackupJobId))
			return aws.ToString(out.BackupJobId)
		}
		sleep(ctx, time.Second)
	}
	return ""
}

// waitJob polls a job through the nodes that are up until it ends, or
// drain ends (then its last state is kept, unfinished).
func (b *bench) waitJob(drain context.Context, lb *balancer, t *calls, id string) job {
	j := job{id: id, state: "unknown"}
	for {
		n := lb.pick()
		start := time.Now()
		out, err := n.clients.backup.DescribeBackupJob(drain, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
		if drain.Err() != nil {
			return j
		}
		t.record("backup:DescribeBackupJob", time.Since(start), err)
		if err == nil {
			j.state, j.message = string(out.State), aws.ToString(out.StatusMessage)
			switch out.State {
			case backuptypes.BackupJobStateCompleted, backuptypes.BackupJobStateFailed, backuptypes.BackupJobStateAborted, backuptypes.BackupJobStateExpired, backuptypes.BackupJobStatePartial:
				return j
			}
		}
		sleep(drain, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (b *bench) recentJob() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fx.recentJob
}

func (b *bench) setRecentJob(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fx.recentJob = id
}
