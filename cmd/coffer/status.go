package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/restoretesting"
)

func statusCommand() *cobra.Command {
	var (
		loc                        storeFlags
		asJSON, overdueOnly, check bool
		nodes                      bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the recovery point objective of every protected database",
		Long: `Show, for every database the backup plans protect and every vault that holds
its recovery points (the rule's target vault and the copy actions'
destinations, in any account and region), the age of the newest completed
recovery point. A database whose age exceeds its plan's frequency plus the
rule's start window is OVERDUE; one a plan expects in a vault that holds
none of its recovery points yet is NEVER once that much time has passed
since the plan was created.

Then, for every resource a restore testing plan tests, its newest restore
test: the restore job, its validation (the recovery point's checksums and
the selection's validation query) and whether the temporary instance was
deleted; a test whose restore or validation failed is FAILED.

Then, for every RDS instance with automated backups (continuous WAL
capture), its restore window (earliest and latest restorable times), how
far the latest restorable time trails now, and the replication lag: the
bytes of WAL the server had written (pg_current_wal_lsn) beyond what its
replication slot confirmed as stored, at the capture's last probe.

It reads the same store as coffer serve (--data-dir or --database), and can
run while the server does. With --check it exits non-zero when anything is
overdue or a newest restore test FAILED, for monitoring.

With --nodes it shows instead the coffer serve processes sharing the store:
each node's address, last heartbeat (a node whose heartbeat is older than
jobs.staleAfter is LOST: its jobs go to the other nodes), River's leader,
the jobs each node runs, and the job queue by state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, cfg, err := loc.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if nodes {
				st, err := jobs.ClusterStatus(cmd.Context(), store)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(st)
				}
				return writeNodesTable(cmd.OutOrStdout(), st, cfg.Jobs.StaleAfter, time.Now())
			}
			// Reading needs only the store: no keys, no storage, no queue.
			b := backup.New(backup.Options{Store: store})
			svc := rds.New(rds.Options{Store: store})
			p := plans.New(plans.Options{Store: store, Backup: b, Resources: plans.RDSResources(svc)})
			entries, err := p.RPO(cmd.Context())
			if err != nil {
				return err
			}
			tests, err := restoretesting.Results(cmd.Context(), b)
			if err != nil {
				return err
			}
			pitr, err := pitrStatuses(cmd.Context(), store, svc)
			if err != nil {
				return err
			}
			failedTests := 0
			var testsShown []restoretesting.Result
			for _, r := range tests {
				failed := restoreTestWord(r) == "FAILED"
				if failed {
					failedTests++
				}
				if failed || !overdueOnly {
					testsShown = append(testsShown, r)
				}
			}
			overdue := 0
			var shown []plans.RPOEntry
			for _, e := range entries {
				if e.Overdue {
					overdue++
				}
				if e.Overdue || !overdueOnly {
					shown = append(shown, e)
				}
			}
			if asJSON {
				err = writeStatusJSON(cmd.OutOrStdout(), shown)
				if err == nil {
					err = writeRestoreTestsJSON(cmd.OutOrStdout(), testsShown)
				}
				if err == nil && !overdueOnly {
					err = writePITRJSON(cmd.OutOrStdout(), pitr, time.Now())
				}
			} else {
				err = writeStatusTable(cmd.OutOrStdout(), shown)
				if err == nil {
					err = writeRestoreTestsTable(cmd.OutOrStdout(), testsShown)
				}
				if err == nil && !overdueOnly {
					err = writePITRTable(cmd.OutOrStdout(), pitr, time.Now())
				}
			}
			if err != nil {
				return err
			}
			if check && overdue+failedTests > 0 {
				return fmt.Errorf("%d resource/vault pair(s) overdue, %d restore test(s) failed", overdue, failedTests)
			}
			return nil
		},
	}
	f := cmd.Flags()
	loc.register(f)
	f.BoolVar(&asJSON, "json", false, "one JSON object per resource and vault")
	f.BoolVar(&overdueOnly, "overdue", false, "only what is overdue, and failed restore tests")
	f.BoolVar(&check, "check", false, "exit non-zero when anything is overdue or a restore test failed")
	f.BoolVar(&nodes, "nodes", false, "show the nodes sharing the store and the job queue instead")
	return cmd
}

// statusWord is the STATUS column.
func statusWord(e plans.RPOEntry) string {
	switch {
	case e.Overdue && e.Last.IsZero():
		return "NEVER"
	case e.Overdue:
		return "OVERDUE"
	case e.Frequency == 0:
		return "no plan"
	case e.Last.IsZero():
		return "waiting"
	}
	return "ok"
}

func writeStatusTable(w io.Writer, entries []plans.RPOEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tVAULT\tKIND\tLAST RECOVERY POINT\tAGE\tEXPECTED EVERY\tSTATUS\tPLANS")
	for _, e := range entries {
		last, age, every := "-", "-", "-"
		if !e.Last.IsZero() {
			last, age = e.Last.Local().Format(time.DateTime), roundDuration(e.Age)
		}
		if e.Frequency > 0 {
			every = roundDuration(e.Frequency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ResourceARN, e.VaultARN, dash(e.Kind), last, age, every, statusWord(e), dash(strings.Join(e.Plans, ", ")))
	}
	return tw.Flush()
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

func writeStatusJSON(w io.Writer, entries []plans.RPOEntry) error {
	enc := json.NewEncoder(w)
	for _, e := range entries {
		out := struct {
			ResourceArn, ResourceName, VaultArn, Kind, Status string
			Plans                                             []string   `json:",omitempty"`
			LastRecoveryPoint                                 *time.Time `json:",omitempty"`
			AgeSeconds, FrequencySeconds, AllowedSeconds      float64
			Overdue                                           bool
		}{e.ResourceARN, e.ResourceName, e.VaultARN, e.Kind, statusWord(e), e.Plans, nil, e.Age.Seconds(), e.Frequency.Seconds(), e.Allowed.Seconds(), e.Overdue}
		if !e.Last.IsZero() {
			out.LastRecoveryPoint = &e.Last
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}

// writeNodesTable prints the nodes and the queue; lease tells a live node
// from a lost one.
func writeNodesTable(w io.Writer, st *jobs.Cluster, lease time.Duration, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSTATE\tLAST HEARTBEAT\tLEADER\tRUNNING JOBS")
	for _, n := range st.Nodes {
		state, beat := "UP", now.Sub(n.Heartbeat).Round(time.Second).String()+" ago"
		switch {
		case n.Heartbeat.IsZero():
			state, beat = "STOPPED", "-"
		case now.Sub(n.Heartbeat) > lease:
			state = "LOST"
		}
		leader := ""
		if n.Leader {
			leader = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", n.ID, n.Address, state, beat, leader, n.Running)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	states := make([]string, 0, len(st.Depth))
	for s := range st.Depth {
		states = append(states, s)
	}
	sort.Strings(states)
	parts := make([]string, 0, len(states))
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%s %d", s, st.Depth[s]))
	}
	leader := st.Leader
	if leader == "" {
		leader = "none elected"
	}
	_, err := fmt.Fprintf(w, "leader: %s\nqueue: %s\n", leader, strings.Join(parts, ", "))
	return err
}
