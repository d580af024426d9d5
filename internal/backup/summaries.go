package backup

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
)

// Job summary aggregation periods and the filter words of
// ListBackupJobSummaries and its copy and restore siblings.
const (
	PeriodOneDay       = "ONE_DAY"
	PeriodSevenDays    = "SEVEN_DAYS"
	PeriodFourteenDays = "FOURTEEN_DAYS"
	// SummaryAny groups the counts by each value of a dimension;
	// SummaryAggregateAll sums them into one count.
	SummaryAny          = "ANY"
	SummaryAggregateAll = "AGGREGATE_ALL"
)

// Message categories of finished jobs, as summaries count them.
const (
	CategorySuccess      = "SUCCESS"
	CategoryAccessDenied = "ACCESS_DENIED"
	CategoryUnknown      = "UNKNOWN"
)

var resourceTypeRe = regexp.MustCompile(`^[a-zA-Z0-9\-_.]{1,50}$`)

// summaryStates are the states each kind's summary accepts (the model's
// BackupJobStatus, CopyJobStatus and RestoreJobState enums).
var summaryStates = map[string][]string{
	KindBackup:  {"CREATED", "PENDING", "RUNNING", "ABORTING", "ABORTED", "COMPLETED", "FAILED", "EXPIRED", "PARTIAL", SummaryAggregateAll, SummaryAny},
	KindCopy:    {"CREATED", "RUNNING", "ABORTING", "ABORTED", "COMPLETING", "COMPLETED", "FAILING", "FAILED", "PARTIAL", SummaryAggregateAll, SummaryAny},
	KindRestore: {"CREATED", "PENDING", "RUNNING", "ABORTED", "COMPLETED", "FAILED", SummaryAggregateAll, SummaryAny},
}

// SummaryFilter is the input of a job summary listing. Empty members
// mean ANY, except Account, which means the caller's account.
type SummaryFilter struct {
	Account, State, ResourceType, MessageCategory, Period string
}

// JobSummary counts the jobs of one combination of the dimensions in one
// period. A dimension the filter aggregated reads AGGREGATE_ALL.
type JobSummary struct {
	Region, Account, State, ResourceType, MessageCategory string
	Count                                                 int
	Start, End                                            time.Time
}

// messageCategory classifies a job's outcome: SUCCESS for a job without
// a status message, ACCESS_DENIED when a permission was missing, UNKNOWN
// for any other failure.
func messageCategory(j *Job) string {
	switch {
	case j.StatusMessage == "":
		return CategorySuccess
	case strings.Contains(j.StatusMessage, "not authorized") || strings.Contains(j.StatusMessage, "AccessDenied") || strings.Contains(j.StatusMessage, "explicit deny"):
		return CategoryAccessDenied
	}
	return CategoryUnknown
}

// JobSummaries counts the caller's jobs of a kind created in the last 14
// days (7 for SEVEN_DAYS), by region, account, state, resource type and
// message category, per day (ONE_DAY, the default) or over the whole
// period. It returns the period used.
func (s *Service) JobSummaries(ctx context.Context, kind string, f SummaryFilter) ([]JobSummary, string, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, "", err
	}
	action := map[string]string{KindBackup: "backup:ListBackupJobSummaries", KindCopy: "backup:ListCopyJobSummaries", KindRestore: "backup:ListRestoreJobSummaries"}[kind]
	if err := s.authorizeAny(ctx, action); err != nil {
		return nil, "", err
	}
	if f.Period == "" {
		f.Period = PeriodOneDay
	}
	now := s.now().UTC()
	var buckets [][2]time.Time
	switch f.Period {
	case PeriodOneDay:
		today := now.Truncate(24 * time.Hour)
		for d := 13; d >= 0; d-- {
			start := today.AddDate(0, 0, -d)
			buckets = append(buckets, [2]time.Time{start, start.Add(24 * time.Hour)})
		}
	case PeriodSevenDays:
		buckets = [][2]time.Time{{now.Add(-7 * 24 * time.Hour), now.Add(time.Nanosecond)}}
	case PeriodFourteenDays:
		buckets = [][2]time.Time{{now.Add(-14 * 24 * time.Hour), now.Add(time.Nanosecond)}}
	default:
		return nil, "", InvalidParam("AggregationPeriod %q must be one of ONE_DAY, SEVEN_DAYS, FOURTEEN_DAYS", f.Period)
	}
	if f.State != "" && !slices.Contains(summaryStates[kind], f.State) {
		return nil, "", InvalidParam("State %q must be one of %s", f.State, strings.Join(summaryStates[kind], ", "))
	}
	if f.ResourceType != "" && !resourceTypeRe.MatchString(f.ResourceType) {
		return nil, "", InvalidParam("ResourceType %q must be 1 to 50 letters, digits, hyphens, underscores or dots", f.ResourceType)
	}
	accounts, err := s.summaryAccounts(ctx, sc, f.Account)
	if err != nil {
		return nil, "", err
	}
	jobs, err := s.jobsSince(ctx, kind, sc.Region, accounts, buckets[0][0])
	if err != nil {
		return nil, "", err
	}
	type key struct {
		bucket                          int
		account, state, rtype, category string
	}
	counts := map[key]int{}
	dim := func(filter, value string) (string, bool) {
		switch filter {
		case "", SummaryAny:
			return value, true
		case SummaryAggregateAll:
			return SummaryAggregateAll, true
		}
		return value, filter == value
	}
	for _, j := range jobs {
		b := slices.IndexFunc(buckets, func(b [2]time.Time) bool { return !j.Created.Before(b[0]) && j.Created.Before(b[1]) })
		if b < 0 {
			continue
		}
		k := key{bucket: b, account: j.Account}
		if f.Account == SummaryAggregateAll {
			k.account = SummaryAggregateAll
		}
		var ok1, ok2, ok3 bool
		k.state, ok1 = dim(f.State, j.State)
		k.rtype, ok2 = dim(f.ResourceType, j.ResourceType)
		ok3 = true
		if kind != KindRestore {
			k.category, ok3 = dim(f.MessageCategory, messageCategory(j))
		}
		if ok1 && ok2 && ok3 {
			counts[k]++
		}
	}
	out := make([]JobSummary, 0, len(counts))
	for k, n := range counts {
		// Buckets end exclusively; the summary's EndTime is never later
		// than now.
		end := buckets[k.bucket][1]
		if end.After(now) {
			end = now
		}
		out = append(out, JobSummary{Region: sc.Region, Account: k.account, State: k.state, ResourceType: k.rtype, MessageCategory: k.category,
			Count: n, Start: buckets[k.bucket][0], End: end})
	}
	slices.SortFunc(out, func(a, b JobSummary) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Account+a.State+a.ResourceType+a.MessageCategory, b.Account+b.State+b.ResourceType+b.MessageCategory)
	})
	return out, f.Period, nil
}

// summaryAccounts resolves a summary's AccountId: the caller's account
// by default and for members; ANY or AGGREGATE_ALL from an
// organization's management account mean every account it manages, and
// a management account may name one of them.
func (s *Service) summaryAccounts(ctx context.Context, sc Scope, account string) ([]string, error) {
	if account == "" || account == sc.Account {
		return []string{sc.Account}, nil
	}
	if account != SummaryAny && account != SummaryAggregateAll && !accountRe.MatchString(account) {
		return nil, InvalidParam("AccountId %q must be 12 digits, ANY or AGGREGATE_ALL", account)
	}
	if accountRe.MatchString(account) {
		mgmt, err := s.orgs.ManagementAccount(ctx, account)
		if err != nil {
			return nil, err
		}
		if mgmt != sc.Account {
			return nil, awserr.AccessDenied("account %s may see the job summaries of account %s only as the management account of its organization", sc.Account, account)
		}
		return []string{account}, nil
	}
	rows, err := s.store.QueryContext(ctx, `SELECT DISTINCT account_id FROM backup_jobs WHERE region = ? AND account_id <> ?`, sc.Region, sc.Account)
	if err != nil {
		return nil, err
	}
	var others []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return nil, err
		}
		others = append(others, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []string{sc.Account}
	for _, a := range others {
		mgmt, err := s.orgs.ManagementAccount(ctx, a)
		if err != nil {
			return nil, err
		}
		if mgmt == sc.Account {
			out = append(out, a)
		}
	}
	return out, nil
}

// jobsSince loads the jobs of a kind the accounts created in a region
// since a time.
func (s *Service) jobsSince(ctx context.Context, kind, region string, accounts []string, since time.Time) ([]*Job, error) {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(accounts)), ", ")
	args := []any{kind, region, since.UnixNano()}
	for _, a := range accounts {
		args = append(args, a)
	}
	return s.selectJobs(ctx, `SELECT `+jobColumns+` FROM backup_jobs WHERE kind = ? AND region = ? AND creation_date >= ? AND account_id IN (`+marks+`)`, args...)
}

// selectJobs runs a query of jobColumns and scans its jobs.
func (s *Service) selectJobs(ctx context.Context, query string, args ...any) ([]*Job, error) {
	rows, err := s.store.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
