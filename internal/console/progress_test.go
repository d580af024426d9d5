package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/chromedp/chromedp"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// progressMiB is the size of the random data the watched backup moves:
// enough for it to run across several of the jobs page's polls.
const progressMiB = 256

// A backup of a large SQLite instance started in the console and watched
// on the jobs page: the script updates the job's row while it runs (its
// PercentDone, estimated against the previous recovery point, between 0
// and 100, or its BytesTransferred above 0 while RUNNING), without
// reloading the page. Jobs renew their lease, and so write their
// progress, every sixth of jobs.staleAfter: a second here.
func TestConsoleJobProgress(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartSeed(t, func(cfg *config.Config) { cfg.Jobs.StaleAfter = 6 * time.Second })
	givePasswords(t, c)
	src := scenario.NewAccount(testenv.SourceAccount, c.AWSConfig(t, c.Profile(t, "source")))
	role := testenv.Must[string](t)(src.BackupRole(ctx, "backup-role"))
	testenv.Must[string](t)(src.Vault(ctx, "progress-vault", ""))
	db := testenv.Must[*scenario.DB](t)(src.CreateDB(ctx, scenario.DBSpec{ID: "big-db", Engine: "sqlite"}))
	conn := testenv.Must[*sql.DB](t)(db.Open())
	_, err := conn.Exec(`CREATE TABLE blobs (b BLOB NOT NULL);
		INSERT INTO blobs SELECT randomblob(1048576) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(progressMiB) + `) SELECT i FROM n)`)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A first backup gives PercentDone the size to estimate against.
	first := testenv.Must[*backup.DescribeBackupJobOutput](t)(src.BackupJob(ctx, "progress-vault", db.ARN, role))
	t.Logf("first backup: %d bytes", aws.ToInt64(first.BackupSizeInBytes))

	b := startChrome(t)
	b.do("signin", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("backup",
		chromedp.Navigate(c.URL+"/console/vaults/progress-vault"),
		chromedp.WaitVisible("#backup-form"),
		chromedp.SetValue("#backup-resource", db.ARN),
		chromedp.SetValue("#backup-role", role),
		chromedp.Click("#start-backup"),
		waitDone("started."),
		// Every change the script makes to the newest job's row, as
		// "state percent bytes", from the page as it loaded.
		chromedp.WaitVisible("#jobs tbody tr[id]"),
		evaluate(`(() => {
			const row = document.querySelector("#jobs tbody tr[id]");
			const seen = () => row.querySelector(".state").textContent + " " + row.querySelector(".percent").textContent + " " + row.querySelector(".bytes").textContent;
			window.cofferSeen = [seen()];
			new MutationObserver(() => window.cofferSeen.push(seen())).observe(row, {subtree: true, childList: true, characterData: true});
			return true;
		})()`),
	)
	var seen []string
	b.do("progress", pollUntil("the job to end", func(ctx context.Context, t *chromedp.Target) (bool, error) {
		got, err := chromedp.Evaluate[string](`window.cofferSeen === undefined ? "reloaded" : window.cofferSeen.join("\n")`)(ctx, t)
		if err != nil || got == "reloaded" {
			return false, fmt.Errorf("jobs page: %q (%v)", got, err)
		}
		seen = strings.Split(got, "\n")
		last := seen[len(seen)-1]
		if strings.HasPrefix(last, "FAILED") {
			return false, fmt.Errorf("the backup failed: %q", last)
		}
		return strings.HasPrefix(last, "COMPLETED") || intermediate(seen) != "", nil
	}))
	t.Logf("the job's row as the page showed it: %q", seen)
	if len(seen) < 2 {
		t.Fatalf("the jobs page never updated the job's row: %q", seen)
	}
	if got := intermediate(seen); got != "" {
		t.Logf("progress seen while the job ran: %q", got)
	} else {
		t.Logf("the job completed between two polls of the page; no progress in between was seen")
	}
}

// intermediate is the first of the row's states (state, PercentDone,
// BytesTransferred) that shows a job part done: RUNNING with some bytes
// moved or PercentDone strictly between 0 and 100.
func intermediate(seen []string) string {
	for _, s := range seen {
		f := strings.Fields(s)
		if len(f) != 3 || f[0] != "RUNNING" {
			continue
		}
		pct, err1 := strconv.ParseFloat(f[1], 64)
		bytes, err2 := strconv.ParseInt(f[2], 10, 64)
		if (err1 == nil && pct > 0 && pct < 100) || (err2 == nil && bytes > 0) {
			return s
		}
	}
	return ""
}

// evaluate runs a script that returns true.
func evaluate(script string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](script)(ctx, t)
		return err
	})
}
