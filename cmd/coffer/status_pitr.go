package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/coffer-dev/coffer/internal/engine/pgwal"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/rds"
)

// pitrStatus is an RDS instance's automated backups as coffer status
// shows them: its restore window and the capture's replication lag.
type pitrStatus struct {
	InstanceARN string
	pgwal.Status
}

// pitrStatuses reads the status of every instance whose WAL is
// captured, from the store alone.
func pitrStatuses(ctx context.Context, store meta.Store, svc *rds.Service) ([]pitrStatus, error) {
	insts, err := svc.AutomatedBackupInstances(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pitrStatus, 0, len(insts))
	for _, inst := range insts {
		st, err := pgwal.ReadStatus(ctx, store, rds.AutomatedBackupStream(inst))
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", inst.ARN, err)
		}
		out = append(out, pitrStatus{InstanceARN: inst.ARN, Status: st})
	}
	return out, nil
}

// behind is how far the latest restorable time trails now (0, false
// with nothing restorable).
func (p pitrStatus) behind(now time.Time) (time.Duration, bool) {
	if p.Window == nil {
		return 0, false
	}
	return now.Sub(p.Window.Latest), true
}

func writePITRTable(w io.Writer, sts []pitrStatus, now time.Time) error {
	if len(sts) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nDB INSTANCE (AUTOMATED BACKUPS)\tEARLIEST RESTORABLE\tLATEST RESTORABLE\tBEHIND\tREPLICATION LAG\tPROBED")
	for _, p := range sts {
		earliest, latest, behind, lag, probed := "-", "-", "no restorable time yet", "-", "never"
		if d, ok := p.behind(now); ok {
			earliest, latest = p.Window.Earliest.Local().Format(time.DateTime), p.Window.Latest.Local().Format(time.DateTime)
			behind = roundDuration(d)
		}
		if !p.ProbedAt.IsZero() {
			lag = fmt.Sprintf("%d bytes", p.LagBytes())
			probed = roundDuration(now.Sub(p.ProbedAt)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.InstanceARN, earliest, latest, behind, lag, probed)
	}
	return tw.Flush()
}

func writePITRJSON(w io.Writer, sts []pitrStatus, now time.Time) error {
	enc := json.NewEncoder(w)
	for _, p := range sts {
		out := struct {
			DBInstanceArn                                string
			EarliestRestorableTime, LatestRestorableTime *time.Time `json:",omitempty"`
			SecondsBehind                                *float64   `json:",omitempty"`
			ReplicationLagBytes                          *int64     `json:",omitempty"`
			ServerLSN, SlotLSN                           string     `json:",omitempty"`
			ProbedAt                                     *time.Time `json:",omitempty"`
		}{DBInstanceArn: p.InstanceARN}
		if d, ok := p.behind(now); ok {
			s := d.Seconds()
			out.EarliestRestorableTime, out.LatestRestorableTime, out.SecondsBehind = &p.Window.Earliest, &p.Window.Latest, &s
		}
		if !p.ProbedAt.IsZero() {
			lag := p.LagBytes()
			out.ReplicationLagBytes, out.ServerLSN, out.SlotLSN, out.ProbedAt = &lag, p.ServerLSN.String(), p.SlotLSN.String(), &p.ProbedAt
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}
