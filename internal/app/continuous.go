package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/engine/pgwal"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// continuous runs RDS automated backups on this node: for each
// instance with BackupRetentionPeriod above 0 that this node captures
// (rds.ContinuousInstances: its own servers, and registered databases
// whose automated backups were turned on here) it captures the WAL
// (pgwal.Archive.Run), takes a base backup when the instance has none
// or its newest is a day old, and expires what falls out of the
// retention period; it serves rds.ContinuousBackup (windows and
// point-in-time restores) and the window metrics.
type continuous struct {
	store meta.Store
	vault *vaultstore.Engine
	phys  *pgphysical.Engine
	rds   *rds.Service
	log   *slog.Logger
	// Scan is how often the instances are looked at (captures started
	// and stopped).
	scan time.Duration

	mu      sync.Mutex
	running map[string]*captureRun // by instance ARN
	events  *prometheus.CounterVec
}

// captureRun is one instance's capture and maintenance.
type captureRun struct {
	inst   *rds.Instance
	target engine.Target
	cancel context.CancelFunc
	done   chan struct{}
}

var _ rds.ContinuousBackup = (*continuous)(nil)

// Automated backups' schedule.
const (
	baseBackupEvery = 24 * time.Hour
	expireEvery     = 10 * time.Minute
	continuousScan  = 2 * time.Second
	// captureWaitScans bounds how many scans a base backup waits for a
	// capture to start.
	captureWaitScans = 15
)

func newContinuous(store meta.Store, v *vaultstore.Engine, svc *rds.Service, log *slog.Logger) (*continuous, error) {
	phys, err := pgphysical.New(pgphysical.Options{})
	if err != nil {
		return nil, err
	}
	c := &continuous{store: store, vault: v, phys: phys, rds: svc, log: log, scan: continuousScan, running: map[string]*captureRun{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_rds_wal_capture_events_total",
			Help: "Events of RDS instances' WAL capture (slot-lost, slot-unreserved, gap, capture-error, ...).",
		}, []string{"instance", "event"}),
	}
	svc.SetContinuousBackup(c)
	return c, nil
}

// archive opens an instance's WAL archive: its automated-backups vault
// under the instance's key, named by its DbiResourceId.
func (c *continuous) archive(inst *rds.Instance) (*pgwal.Archive, error) {
	d := vaultstore.Domain{Region: inst.Region, Vault: rds.AutomatedBackupVault(inst), KeyARN: inst.KMSKeyARN}
	return pgwal.Open(c.store, c.vault, d, rds.AutomatedBackupStream(inst), pgwal.Options{Physical: c.phys, Logger: c.log.With("instance", inst.ARN)})
}

// Window serves rds.ContinuousBackup.
func (c *continuous) Window(ctx context.Context, inst *rds.Instance) (rds.RestoreWindow, error) {
	a, err := c.archive(inst)
	if err != nil {
		return rds.RestoreWindow{}, err
	}
	w, err := a.Window(ctx)
	if errors.Is(err, pgwal.ErrNoWindow) {
		return rds.RestoreWindow{}, errors.Join(rds.ErrNoRestoreWindow, err)
	}
	return rds.RestoreWindow{Earliest: w.Earliest, Latest: w.Latest}, err
}

// Restore serves rds.ContinuousBackup, reading the vault as the RDS
// service (the instance's grant).
func (c *continuous) Restore(ctx context.Context, inst *rds.Instance, at time.Time, latest bool, dir string) (*engine.Metadata, time.Time, error) {
	a, err := c.archive(inst)
	if err != nil {
		return nil, time.Time{}, err
	}
	res, err := a.Restore(c.rds.ServiceContext(ctx, inst.Region), at, latest, dir)
	var we *pgwal.WindowError
	if errors.As(err, &we) {
		return nil, time.Time{}, &rds.OutsideWindowError{Time: we.Time, Window: rds.RestoreWindow{Earliest: we.Window.Earliest, Latest: we.Window.Latest}}
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return res.BaseBackup.Metadata, res.Target, nil
}

// StopCapture serves rds.ContinuousBackup.
func (c *continuous) StopCapture(ctx context.Context, inst *rds.Instance) error {
	c.mu.Lock()
	r, ok := c.running[inst.ARN]
	delete(c.running, inst.ARN)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeleteArchive serves rds.ContinuousBackup, deleting as the RDS
// service.
func (c *continuous) DeleteArchive(ctx context.Context, inst *rds.Instance) error {
	a, err := c.archive(inst)
	if err != nil {
		return err
	}
	ps, err := a.Delete(c.rds.ServiceContext(ctx, inst.Region))
	if err != nil {
		return err
	}
	if ps.Protected > 0 {
		return fmt.Errorf("%d of the automated backups' recovery points are protected by a vault lock or legal hold of vault %s", ps.Protected, rds.AutomatedBackupVault(inst))
	}
	c.log.Info("automated backups deleted", "instance", inst.ARN, "base_backups", ps.BaseBackupsDeleted, "wal_segments", ps.SegmentsDeleted)
	return nil
}

// Run starts and stops the captures as instances' retention changes,
// and removes retained automated backups past their retention, until
// ctx ends; then it stops the captures (each stores what it received)
// and returns.
func (c *continuous) Run(ctx context.Context) {
	t := time.NewTicker(c.scan)
	defer t.Stop()
	var swept time.Time
	for {
		c.reconcile(ctx)
		if time.Since(swept) >= expireEvery {
			if _, err := c.rds.ExpireRetained(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("remove expired retained automated backups", "error", err)
			}
			swept = time.Now()
		}
		select {
		case <-ctx.Done():
			c.mu.Lock()
			runs := c.running
			c.running = map[string]*captureRun{}
			c.mu.Unlock()
			for _, r := range runs {
				r.cancel()
				<-r.done
			}
			return
		case <-t.C:
		}
	}
}

// reconcile starts the captures of instances that need one and stops
// those of instances that no longer do, dropping the replication slot
// of an instance whose automated backups were turned off.
func (c *continuous) reconcile(ctx context.Context) {
	insts, targets, err := c.rds.ContinuousInstances(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("find instances with automated backups", "error", err)
		}
		return
	}
	want := make(map[string]bool, len(insts))
	c.mu.Lock()
	for i, inst := range insts {
		want[inst.ARN] = true
		if r, ok := c.running[inst.ARN]; ok {
			r.inst = inst
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &captureRun{inst: inst, target: targets[i], cancel: cancel, done: make(chan struct{})}
		c.running[inst.ARN] = r
		go c.runInstance(rctx, r, targets[i])
	}
	var stopped []*captureRun
	for arn, r := range c.running {
		if !want[arn] {
			stopped = append(stopped, r)
			delete(c.running, arn)
		}
	}
	c.mu.Unlock()
	for _, r := range stopped {
		r.cancel()
		<-r.done
		off, t, err := c.rds.CaptureOff(ctx, r.inst.ARN)
		if err == nil && off {
			err = pgwal.DropSlot(ctx, t, rds.CaptureSlot(r.inst))
			if err == nil {
				c.log.Info("automated backups turned off: replication slot dropped", "instance", r.inst.ARN)
			}
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("drop the replication slot of an instance whose automated backups are off", "instance", r.inst.ARN, "error", err)
		}
	}
}

// runInstance captures an instance's WAL and keeps its base backups
// and retention until ctx ends.
func (c *continuous) runInstance(ctx context.Context, r *captureRun, t engine.Target) {
	defer close(r.done)
	log := c.log.With("instance", r.inst.ARN)
	a, err := c.archive(r.inst)
	if err != nil {
		log.Error("open the WAL archive", "error", err)
		return
	}
	sctx := c.rds.ServiceContext(ctx, r.inst.Region)
	captured := make(chan struct{})
	go func() {
		defer close(captured)
		a.Run(sctx, t, pgwal.CaptureOptions{Slot: rds.CaptureSlot(r.inst), OnEvent: func(e pgwal.Event) {
			c.events.WithLabelValues(r.inst.ARN, e.Kind).Inc()
		}})
	}()
	defer func() { <-captured }()
	var expired time.Time
	tick := time.NewTicker(c.scan)
	defer tick.Stop()
	for {
		if err := c.maintain(sctx, a, r, t, &expired); err != nil && ctx.Err() == nil {
			log.Warn("automated backup", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// baseBackupDue: the instance has no base backup, or its newest is a
// day old and now is in its PreferredBackupWindow (any time without
// one, or when the newest is two days old).
func baseBackupDue(bbs []*pgwal.BaseBackup, window string, now time.Time) bool {
	if len(bbs) == 0 {
		return true
	}
	age := now.Sub(bbs[len(bbs)-1].Completed)
	return age >= 2*baseBackupEvery || age >= baseBackupEvery && (window == "" || rds.InBackupWindow(window, now))
}

// maintain takes a base backup once the capture has stored WAL (so the
// backup's WAL is in the archive) when one is due, and expires what is
// older than the retention period.
func (c *continuous) maintain(ctx context.Context, a *pgwal.Archive, r *captureRun, t engine.Target, expired *time.Time) error {
	segs, err := a.Segments(ctx)
	if err != nil || len(segs) == 0 {
		return err
	}
	bbs, err := a.BaseBackups(ctx)
	if err != nil {
		return err
	}
	if baseBackupDue(bbs, c.rds.BackupWindow(ctx, r.inst.ARN), time.Now()) {
		bb, err := a.TakeBaseBackup(ctx, t)
		if err != nil {
			return err
		}
		c.log.Info("automated base backup taken", "instance", r.inst.ARN, "manifest", bb.ID)
	}
	if time.Since(*expired) < expireEvery {
		return nil
	}
	ps, err := a.Expire(ctx, time.Duration(r.inst.BackupRetentionPeriod)*24*time.Hour)
	if err != nil {
		return err
	}
	*expired = time.Now()
	c.log.Debug("automated backups expired", "instance", r.inst.ARN, "stats", ps)
	return nil
}

// Describe and Collect make continuous a prometheus.Collector: each
// captured instance's restore window and how far it trails now.
var (
	windowEarliestDesc = prometheus.NewDesc("coffer_rds_restore_window_earliest_seconds",
		"Earliest restorable time of an RDS instance (Unix seconds).", []string{"instance"}, nil)
	windowLatestDesc = prometheus.NewDesc("coffer_rds_restore_window_latest_seconds",
		"Latest restorable time of an RDS instance (Unix seconds).", []string{"instance"}, nil)
	windowLagDesc = prometheus.NewDesc("coffer_rds_restore_window_lag_seconds",
		"How far an RDS instance's latest restorable time trails now.", []string{"instance"}, nil)
	replicationLagDesc = prometheus.NewDesc("coffer_rds_replication_lag_bytes",
		"WAL an RDS instance's server had written beyond what its replication slot confirmed as stored, at the capture's last probe.", []string{"instance"}, nil)
)

func (c *continuous) Describe(ch chan<- *prometheus.Desc) {
	ch <- windowEarliestDesc
	ch <- windowLatestDesc
	ch <- windowLagDesc
	ch <- replicationLagDesc
	c.events.Describe(ch)
}

func (c *continuous) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	insts := make([]*rds.Instance, 0, len(c.running))
	for _, r := range c.running {
		insts = append(insts, r.inst)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, inst := range insts {
		st, err := pgwal.ReadStatus(ctx, c.store, rds.AutomatedBackupStream(inst))
		if err != nil {
			c.log.Warn("read the WAL capture's status", "instance", inst.ARN, "error", err)
			continue
		}
		if !st.ProbedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(replicationLagDesc, prometheus.GaugeValue, float64(st.LagBytes()), inst.ARN)
		}
		if w := st.Window; w != nil {
			ch <- prometheus.MustNewConstMetric(windowEarliestDesc, prometheus.GaugeValue, float64(w.Earliest.UnixNano())/1e9, inst.ARN)
			ch <- prometheus.MustNewConstMetric(windowLatestDesc, prometheus.GaugeValue, float64(w.Latest.UnixNano())/1e9, inst.ARN)
			ch <- prometheus.MustNewConstMetric(windowLagDesc, prometheus.GaugeValue, time.Since(w.Latest).Seconds(), inst.ARN)
		}
	}
	c.events.Collect(ch)
}

// continuousBackups serves backup.Continuous (AWS Backup's continuous
// backup rules) from the same WAL capture: a rule turns an instance's
// automated backups on with its retention.
type continuousBackups struct {
	c        *continuous
	physical *pgphysical.Engine
}

var _ backup.Continuous = continuousBackups{}

func (b continuousBackups) Enable(ctx context.Context, arn string, days int) (string, error) {
	inst, err := b.c.rds.EnableContinuous(ctx, arn, days)
	if err != nil {
		return "", err
	}
	return inst.ResourceID, nil
}

// Disable turns the instance's capture off and prunes its archive to
// what a restore to now would still need (the newest base backup and
// the WAL after it), which RDS keeps no longer than its instance.
func (b continuousBackups) Disable(ctx context.Context, arn string) error {
	inst, err := b.c.rds.DisableContinuous(ctx, arn)
	if err != nil || inst == nil {
		return err
	}
	a, err := b.c.archive(inst)
	if err != nil {
		return err
	}
	_, err = a.Prune(b.c.rds.ServiceContext(ctx, inst.Region), time.Now())
	return err
}

func (b continuousBackups) Window(ctx context.Context, arn string) (time.Time, time.Time, error) {
	inst, err := b.c.rds.ContinuousSource(ctx, arn)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	w, err := b.c.Window(ctx, inst)
	if errors.Is(err, rds.ErrNoRestoreWindow) {
		return time.Time{}, time.Time{}, errors.Join(backup.ErrNoRestoreWindow, err)
	}
	return w.Earliest, w.Latest, err
}

// BaseBackup takes a base backup through the instance's running
// capture, so its WAL is archived; it waits a few scans for a capture
// that is starting (this node just started, or retention was just set).
func (b continuousBackups) BaseBackup(ctx context.Context, arn string) error {
	inst, err := b.c.rds.ContinuousSource(ctx, arn)
	if err != nil {
		return err
	}
	var r *captureRun
	for range captureWaitScans {
		b.c.mu.Lock()
		r = b.c.running[inst.ARN]
		b.c.mu.Unlock()
		if r != nil {
			break
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(b.c.scan):
		}
	}
	if r == nil {
		return fmt.Errorf("the WAL capture of %s is not running on this node", inst.Identifier)
	}
	a, err := b.c.archive(inst)
	if err != nil {
		return err
	}
	_, err = a.TakeBaseBackup(b.c.rds.ServiceContext(ctx, inst.Region), r.target)
	return err
}

// Restore restores the instance's data at a point in time into a new
// instance and validates it (recovery reached, tables readable) before
// returning.
func (b continuousBackups) Restore(ctx context.Context, arn string, spec backup.RestoreSpec, at time.Time, latest bool) (*backup.Restored, string, time.Time, error) {
	src, err := b.c.rds.ContinuousSource(ctx, arn)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	rs := restoreSpec(spec)
	rs.Engine = src.Engine
	inst, t, md, restored, err := b.c.rds.RestoreContinuous(ctx, src, rs, at, latest)
	var we *rds.OutsideWindowError
	if errors.As(err, &we) {
		return nil, "", time.Time{}, &backup.OutsideWindowError{Time: we.Time, Earliest: we.Window.Earliest, Latest: we.Window.Latest}
	}
	if err != nil {
		if inst != nil {
			b.c.rds.MarkFailed(context.WithoutCancel(ctx), inst.ARN, err.Error())
			return &backup.Restored{ARN: inst.ARN}, "", time.Time{}, err
		}
		return nil, "", time.Time{}, err
	}
	finish := func(ctx context.Context, ok bool) error {
		if ok {
			return b.c.rds.MarkAvailable(ctx, inst.ARN)
		}
		return b.c.rds.MarkFailed(ctx, inst.ARN, "the restore into this instance failed; see the restore job's status message")
	}
	restoredTo := &backup.Restored{ARN: inst.ARN, Target: t, Finish: finish}
	if eng, ok := b.c.rds.Engine(inst.Engine); ok {
		restoredTo.Engine = eng
	}
	vt := t
	vt.Role = ""
	vt.Database = src.DBName
	vctx, cancel := context.WithTimeout(ctx, physicalValidation)
	v, err := pgphysical.Validate(vctx, vt, md)
	cancel()
	if err != nil && !errors.Is(err, engine.ErrMismatch) {
		finish(context.WithoutCancel(ctx), false)
		return restoredTo, "", time.Time{}, fmt.Errorf("validate %s: %w", inst.ARN, err)
	}
	rows := (&engine.Metadata{Tables: v.Tables}).Rows()
	return restoredTo, fmt.Sprintf("recovery replayed the WAL to the restore time and promoted; %d tables and %d rows readable", len(v.Tables), rows), restored, nil
}

// SnapshotLatest takes a physical snapshot of a temporary server on the
// instance's data at its latest restorable time.
func (b continuousBackups) SnapshotLatest(ctx context.Context, arn string, sink backup.Sink) (*engine.Metadata, time.Time, error) {
	src, err := b.c.rds.ContinuousSource(ctx, arn)
	if err != nil {
		return nil, time.Time{}, err
	}
	var md *engine.Metadata
	at, err := b.c.rds.SnapshotLatest(ctx, src, func(t engine.Target) error {
		var err error
		md, err = b.physical.Snapshot(ctx, t, sink)
		return err
	})
	return md, at, err
}

func (b continuousBackups) Associate(ctx context.Context, arn, rpARN string) error {
	return b.c.rds.AssociateBackupRecoveryPoint(ctx, arn, rpARN)
}

func (b continuousBackups) Release(ctx context.Context, arn, rpARN string) error {
	return b.c.rds.ReleaseBackupRecoveryPoint(ctx, arn, rpARN)
}
