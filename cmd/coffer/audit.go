package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/audit"
)

func auditCommand() *cobra.Command {
	var (
		loc                           storeFlags
		q                             audit.Query
		since                         time.Duration
		operation, principal, service string
		errorsOnly, asJSON            bool
		all                           bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail: every API call, allowed, denied or failed",
		Long: `Show the audit trail recorded in the metadata store, newest first: time,
account, principal, service, operation, source IP, outcome and request ID.
Request parameters (secrets redacted) and the authorization decisions are
in the --json output, one CloudTrail-style event per line.

It reads the same store as coffer serve (--data-dir or --database), and can
run while the server does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, _, err := loc.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if since > 0 {
				q.Start = time.Now().Add(-since)
			}
			set := 0
			for key, v := range map[string]string{"EventName": operation, "PrincipalArn": principal, "EventSource": service} {
				if v != "" {
					q.AttributeKey, q.AttributeValue = key, v
					set++
				}
			}
			if errorsOnly {
				q.AttributeKey, q.AttributeValue = "ErrorCode", "*"
				set++
			}
			if set > 1 {
				return fmt.Errorf("give at most one of --operation, --principal, --service and --errors")
			}
			if q.Limit < 1 {
				return fmt.Errorf("--limit must be at least 1")
			}
			var tw *tabwriter.Writer
			if !asJSON {
				tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tACCOUNT\tPRINCIPAL\tSERVICE\tOPERATION\tSOURCE IP\tOUTCOME\tREQUEST ID")
			}
			for {
				evs, next, err := audit.Lookup(cmd.Context(), store, q)
				if err != nil {
					return err
				}
				for _, e := range evs {
					if asJSON {
						fmt.Println(e.CloudTrailJSON())
						continue
					}
					outcome := fmt.Sprint(e.HTTPStatus)
					if e.ErrorCode != "" {
						outcome += " " + e.ErrorCode
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), dash(e.AccountID), dash(e.PrincipalARN),
						e.Service, dash(e.Operation), e.SourceIP, outcome, e.RequestID)
				}
				if next == "" || !all {
					break
				}
				q.Cursor = next
			}
			if tw != nil {
				return tw.Flush()
			}
			return nil
		},
	}
	f := cmd.Flags()
	loc.register(f)
	f.StringVar(&q.AccountID, "account", "", "only this account's calls")
	f.StringVar(&q.Region, "region", "", "only this region's calls (and IAM's and Organizations')")
	f.StringVar(&operation, "operation", "", "only this operation (e.g. AssumeRole)")
	f.StringVar(&principal, "principal", "", "only this principal ARN")
	f.StringVar(&service, "service", "", "only this service (kms, iam, ...)")
	f.BoolVar(&errorsOnly, "errors", false, "only failed and denied calls")
	f.DurationVar(&since, "since", 0, "only calls in this past duration (e.g. 1h)")
	f.IntVar(&q.Limit, "limit", 50, "events per page")
	f.BoolVar(&all, "all", false, "all pages, not only the newest --limit events")
	f.BoolVar(&asJSON, "json", false, "one CloudTrail-style JSON event per line, with parameters and decisions")
	return cmd
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
