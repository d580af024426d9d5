package console_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/chromedp/chromedp"

	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// chrome is a headless Debian chromium driven with chromedp; JavaScript
// exceptions and console errors of every page are collected.
type chrome struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	step   int
	mu     sync.Mutex
	errors []string
}

func startChrome(t *testing.T) *chrome {
	t.Helper()
	bin := testenv.LookPath(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	c := &chrome{t: t, ctx: ctx, dir: t.ArtifactDir()}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				c.mu.Lock()
				c.errors = append(c.errors, m.String())
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// do runs actions, then saves a screenshot named after the step.
func (c *chrome) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	c.step++
	if _, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`window.cofferOld = true`)); err != nil {
		c.t.Fatalf("step %d %s: %v", c.step, name, err)
	}
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("step %d %s: %v", c.step, name, err)
	}
	// A page still being laid out has no size yet to capture.
	var shot []byte
	var err error
	for try := 0; try < 50; try++ {
		if shot, err = chromedp.Run(c.ctx, chromedp.FullScreenshot(100)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("step %d %s: screenshot: %v", c.step, name, err)
	}
	path := filepath.Join(c.dir, fmt.Sprintf("%02d-%s.png", c.step, name))
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errors) > 0 {
		c.t.Fatalf("step %d %s: JavaScript errors: %v", c.step, name, c.errors)
	}
}

func (c *chrome) value(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Value(sel))
	if err != nil {
		c.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(sel))
	if err != nil {
		c.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func signInActions(base, account, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/console/"),
		chromedp.WaitVisible("#signin-form"),
		chromedp.SetValue("#account", account),
		chromedp.SetValue("#username", "admin"),
		chromedp.SetValue("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#identity"),
	}
}

func signOut() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Click("#signout"), chromedp.WaitVisible("#signin-form"))
}

// The seed's keys, vaults and vault access policy set up by clicking in
// Chromium, as each account's administrator; the source administrator
// cannot see the backup account's vault; no page has JavaScript errors.
func TestConsoleBrowser(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	givePasswords(t, c)
	src := scenario.NewAccount(testenv.SourceAccount, c.AWSConfig(t, c.Profile(t, "source")))
	srcRole := testenv.Must[string](t)(src.BackupRole(context.Background(), "backup-role"))
	b := startChrome(t)

	// Signed in with the keyboard alone: Tab between the labelled
	// fields, Enter to send.
	b.do("source-signin-keyboard",
		chromedp.Navigate(c.URL+"/console/"),
		chromedp.WaitVisible("#signin-form"),
		chromedp.Focus("#account"),
		chromedp.KeyEvent(testenv.SourceAccount+"\tadmin\t"+adminPassword+"\r"),
		chromedp.WaitVisible("#identity"),
	)
	b.do("dashboard", chromedp.WaitVisible("main h1"))

	// The source key, shared with the backup account through the template.
	b.do("source-key", createKey(c.URL, "alias/source-cmk", testenv.BackupAccount))
	if got := b.text("#key-aliases"); !strings.Contains(got, "alias/source-cmk") {
		t.Fatalf("aliases = %q", got)
	}
	if policy := b.value("#key-policy"); !strings.Contains(policy, "arn:aws:iam::"+testenv.BackupAccount+":root") {
		t.Fatalf("key policy = %q", policy)
	}
	// Disable and enable again.
	b.do("key-disabled", chromedp.Click("#disable-key"), waitDone("DisableKey done."))
	if got := b.text("#key-state"); got != "Disabled" {
		t.Fatalf("key state = %q", got)
	}
	b.do("key-enabled", chromedp.Click("#enable-key"), waitDone("EnableKey done."))

	// Rotation: a period out of KMS's range is refused in its words.
	b.do("rotation-refused", chromedp.SetValue("#rotation-period", "30"), chromedp.Click("#enable-rotation"), waitText("#error", "rotationPeriodInDays"))
	b.do("rotation-on", chromedp.SetValue("#rotation-period", "90"), chromedp.Click("#enable-rotation"), waitDone("EnableKeyRotation done."))
	if got := b.text("#rotation"); !strings.Contains(got, "every 90 days") {
		t.Fatalf("rotation = %q", got)
	}
	// Deletion scheduled, then cancelled (which leaves the key disabled).
	b.do("deletion-scheduled", chromedp.SetValue("#deletion-days", "7"), chromedp.Click("#schedule-deletion"), waitDone("ScheduleKeyDeletion done."))
	if got := b.text("#key-state"); got != "PendingDeletion" {
		t.Fatalf("key state = %q", got)
	}
	b.do("deletion-cancelled", chromedp.Click("#cancel-deletion"), waitDone("CancelKeyDeletion done."), chromedp.Click("#enable-key"), waitDone("EnableKey done."))
	// Grants: an operation KMS does not have is refused in its words; a
	// grant to the backup account is listed, then revoked.
	grantee := "arn:aws:iam::" + testenv.BackupAccount + ":root"
	b.do("grant-refused", chromedp.SetValue("#grant-grantee", grantee), chromedp.SetValue("#grant-operations", "Decrypt, Explode"),
		chromedp.Click("#create-grant"), waitText("#error", "Explode"))
	b.do("grant-created", chromedp.SetValue("#grant-grantee", grantee), chromedp.SetValue("#grant-operations", "Decrypt, GenerateDataKey"),
		chromedp.SetValue("#grant-name", "backup-copies"), chromedp.Click("#create-grant"), waitDone("created."))
	if got := b.text("#grants"); !strings.Contains(got, "backup-copies") || !strings.Contains(got, grantee) || !strings.Contains(got, "Decrypt GenerateDataKey") {
		t.Fatalf("grants = %q", got)
	}
	b.do("grant-revoked", acceptConfirm(), chromedp.Click("#grants .revoke-grant-form button"), waitDone("revoked."))
	if got := b.text("#grants"); !strings.Contains(got, "No grants.") {
		t.Fatalf("grants after the revocation = %q", got)
	}

	// The source vault under the source key.
	b.do("source-vault", createVault(c.URL, "source-vault", "alias/source-cmk", true))
	// Vault lock in governance mode; a bound AWS refuses first.
	b.do("vault-lock-refused", chromedp.SetValue("#lock-min", "0"), chromedp.Click("#save-vault-lock"), waitText("#error", "MinRetentionDays"))
	b.do("vault-lock", chromedp.SetValue("#lock-min", "7"), chromedp.SetValue("#lock-max", "365"), chromedp.Click("#save-vault-lock"), waitDone("Vault lock saved."))
	if got := b.text("#vault-summary"); !strings.Contains(got, "governance mode, retention 7–365 days") {
		t.Fatalf("vault lock shown: %q", got)
	}
	// Notifications: a topic of another account is refused; then the
	// vault's own topic with two events, shown as saved, then off.
	region := strings.Split(b.text("#vault-arn"), ":")[3]
	topic := "arn:aws:sns:" + region + ":" + testenv.SourceAccount + ":backup-events"
	b.do("notifications-refused", chromedp.SetValue("#notify-topic", "arn:aws:sns:"+region+":"+testenv.BackupAccount+":backup-events"),
		chromedp.Click(`#notify-events input[value="BACKUP_JOB_COMPLETED"]`), chromedp.Click("#save-notifications"), waitText("#error", "does not notify across accounts"))
	b.do("notifications", chromedp.SetValue("#notify-topic", topic), chromedp.Click(`#notify-events input[value="BACKUP_JOB_COMPLETED"]`),
		chromedp.Click(`#notify-events input[value="COPY_JOB_FAILED"]`), chromedp.Click("#save-notifications"), waitDone("Notifications saved."))
	if got, events := b.value("#notify-topic"), b.checked("#notify-events"); got != topic || events != "BACKUP_JOB_COMPLETED,COPY_JOB_FAILED" {
		t.Fatalf("notifications shown: topic %q, events %q", got, events)
	}
	b.do("notifications-off", chromedp.Click("#delete-notifications"), waitDone("Notifications turned off."))
	if got, events := b.value("#notify-topic"), b.checked("#notify-events"); got != "" || events != "" {
		t.Fatalf("notifications after turning them off: topic %q, events %q", got, events)
	}

	b.do("source-signout", signOut())

	// The backup account: its own key (not shared), vault and policy.
	b.do("backup-signin", signInActions(c.URL, testenv.BackupAccount, adminPassword)...)
	b.do("backup-key", createKey(c.URL, "alias/backup-cmk", ""))
	b.do("backup-vault", createVault(c.URL, "backup-vault", "alias/backup-cmk", true))
	if saved := b.value("#vault-policy"); !strings.Contains(saved, "backup:CopyIntoBackupVault") || !strings.Contains(saved, `"o-`) {
		t.Fatalf("saved vault policy = %q", saved)
	}
	b.do("jobs", chromedp.Navigate(c.URL+"/console/jobs"), chromedp.WaitVisible("#jobs"), chromedp.Sleep(2500*time.Millisecond))
	b.do("backup-signout", signOut())

	// The source administrator sees only its own vault, and the backup
	// account's vault by name is not there for it.
	b.do("source-again", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("source-vaults", chromedp.Navigate(c.URL+"/console/vaults"), chromedp.WaitVisible("#vaults"))
	if got := b.text("#vaults"); !strings.Contains(got, "source-vault") || strings.Contains(got, "backup-vault") {
		t.Fatalf("the source administrator's vaults: %q", got)
	}

	// A backup plan from JSON, copying into the backup account's vault:
	// one AWS refuses, then the template.
	b.do("plan-refused",
		chromedp.Navigate(c.URL+"/console/plans"),
		chromedp.WaitVisible("#create-plan"),
		chromedp.SetValue("#plan-json", `{"BackupPlanName":"bad","Rules":[{"RuleName":"r","TargetBackupVaultName":"source-vault","ScheduleExpression":"rate(1 hour)","StartWindowMinutes":30}]}`),
		chromedp.Click("#create-plan-submit"),
		waitText("#error", "StartWindowMinutes"),
	)
	b.do("plan-created",
		chromedp.Click("#plan-template"),
		chromedp.Click("#create-plan-submit"),
		waitDone("Backup plan daily created."),
	)
	b.do("plan-selection",
		chromedp.Click("#plan-daily details summary"),
		chromedp.SetValue("#plan-daily .selection-form input[name=name]", "orders"),
		chromedp.SetValue("#plan-daily .selection-form input[name=role]", srcRole),
		chromedp.SetValue("#plan-daily .selection-form textarea[name=resources]", "arn:aws:rds:us-east-1:"+testenv.SourceAccount+":db:orders-db"),
		chromedp.Click("#plan-daily .selection-form button"),
		waitDone("Resources assigned."),
	)
	if got := b.text("#plan-daily"); !strings.Contains(got, "cron(0 5 ? * * *)") || !strings.Contains(got, "db:orders-db") || !strings.Contains(got, "backup-vault:backup-vault") {
		t.Fatalf("the plan as shown: %q", got)
	}
	b.do("source-cannot-see-backup-vault", chromedp.Navigate(c.URL+"/console/vaults/backup-vault"), chromedp.WaitVisible("#error"))
	if got := b.text("#error"); !strings.Contains(got, "ResourceNotFoundException") {
		t.Fatalf("the backup account's vault for the source administrator: %q", got)
	}

	// The event history: the sign-ins and the console's calls, and the
	// refused one among the errors.
	b.do("events", chromedp.Navigate(c.URL+"/console/events"), chromedp.WaitVisible("#events"))
	if got := b.text("#events"); !strings.Contains(got, "ConsoleLogin") || strings.Contains(got, "backup-cmk") {
		t.Fatalf("event history: %q", got)
	}
	for _, op := range []string{"CreateBackupVault", "CreateGrant", "RevokeGrant", "PutBackupVaultNotifications", "DeleteBackupVaultNotifications"} {
		b.do("events-"+op, chromedp.Navigate(c.URL+"/console/events?key=EventName&value="+op), waitText("#events", op))
	}
	b.do("events-errors", chromedp.Navigate(c.URL+"/console/events?errors=1"), waitText("#events", "ResourceNotFoundException"))
	if got := b.text("#events"); strings.Contains(got, "CreateBackupVault") {
		t.Fatalf("errors only: %q", got)
	}
}

// checked is the values of the checked boxes under sel, joined by commas.
func (c *chrome) checked(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.value).join(",")`, sel+" input:checked")))
	if err != nil {
		c.t.Fatalf("checked boxes of %s: %v", sel, err)
	}
	return s
}

// acceptConfirm answers yes to the page's confirmation dialogs.
func acceptConfirm() chromedp.Action[chromedp.Void] {
	return evaluate(`(() => { window.confirm = () => true; return true; })()`)
}

// waitText waits, across a navigation, until the element sel contains text.
func waitText(sel, text string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.includes(%q)`, sel, text)
	return pollUntil(fmt.Sprintf("%q in %s", text, sel), func(ctx context.Context, t *chromedp.Target) (bool, error) {
		ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
		return err == nil && ok, nil // an error is a page between two documents
	})
}

// pollUntil checks every 100 ms until check says done or fails.
func pollUntil(what string, check func(ctx context.Context, t *chromedp.Target) (bool, error)) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			done, err := check(ctx, t)
			if err != nil || done {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// createKey creates a key with an alias on the keys page; shareWith, when
// set, fills the key policy from the share-with-account template.
func createKey(base, alias, shareWith string) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/console/keys"), chromedp.WaitVisible("#create-key"), chromedp.SetValue("#key-alias", alias)}
	if shareWith != "" {
		steps = append(steps, chromedp.SetValue("#share-account", shareWith), chromedp.Click("#share-template"))
	}
	return chromedp.Steps(append(steps, chromedp.Click("#create-key-submit"), waitDone("created."))...)
}

// createVault creates a vault under the key with alias and, when
// orgPolicy is set, saves the organization access policy template.
func createVault(base, name, alias string, orgPolicy bool) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/console/vaults"), chromedp.WaitVisible("#create-vault"),
		chromedp.SetValue("#vault-name", name), keyOption(alias), chromedp.Click("#create-vault-submit"), waitDone("created.")}
	if orgPolicy {
		steps = append(steps, chromedp.Click("#org-template"), chromedp.Click("#save-vault-policy"), waitDone("Access policy saved."))
	}
	return chromedp.Steps(steps...)
}

// fits fails the test when the page is wider than width pixels.
func (c *chrome) fits(width int) {
	c.t.Helper()
	if w, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > width {
		c.t.Fatalf("step %d: the page is %d px wide at %d px (%v)", c.step, w, width, err)
	}
}

// keyOption chooses the vault key chooser's option for alias.
func keyOption(alias string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Evaluate[string](fmt.Sprintf(`Array.from(document.querySelectorAll("#vault-key option")).find(o => o.textContent.includes(%q)).value`, alias))(ctx, t)
		if err != nil {
			return fmt.Errorf("no key option for %s: %w", alias, err)
		}
		_, err = chromedp.SetValue("#vault-key", v)(ctx, t)
		return err
	})
}

// waitDone waits, across the navigation a form's submission starts,
// until the page says that what was asked is done.
func waitDone(text string) chromedp.Action[chromedp.Void] {
	// A page marked cofferOld is the one the action started on (do marks
	// it, and a page that said "done" is marked too): its messages are
	// not the answer.
	expr := fmt.Sprintf(`(() => {
		if (window.cofferOld) { return ""; }
		const done = document.querySelector(".done"), failed = document.querySelector("#error");
		if (done && done.textContent.includes(%q)) { window.cofferOld = true; return "done"; }
		return failed ? failed.textContent : "";
	})()`, text)
	return pollUntil(fmt.Sprintf("%q", text), func(ctx context.Context, t *chromedp.Target) (bool, error) {
		got, err := chromedp.Evaluate[string](expr)(ctx, t)
		switch {
		case err != nil || got == "":
			return false, nil // a page between two documents, or not there yet
		case got != "done":
			return false, fmt.Errorf("waiting for %q, the page says %q", text, got)
		}
		return true, nil
	})
}

// The seed's walkthrough clicked through in Chromium: the source key
// shared with the backup account, an encrypted database, both vaults
// and the backup vault's organization access policy, an on-demand
// backup, its lifecycle and a legal hold (a held recovery point cannot
// be deleted), the copy into the backup account watched to COMPLETED on
// the jobs page without reloading, the restore in the backup account
// with the backup key, and the copy back into the source vault; the
// restored rows are then read from the restored database. The management account's opt-in is clicked too. What the
// seed does outside these consoles (the IAM roles and their policies,
// the rows written into the database) is done with the SDK.
func TestConsoleWalkthrough(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartSeed(t, nil)
	givePasswords(t, c)
	mgmt := scenario.NewAccount(testenv.ManagementAccount, c.AWSConfig(t, c.Profile(t, "default")))
	src := scenario.NewAccount(testenv.SourceAccount, c.AWSConfig(t, c.Profile(t, "source")))
	dst := scenario.NewAccount(testenv.BackupAccount, c.AWSConfig(t, c.Profile(t, "backup")))
	testenv.Must[*iam.CreateLoginProfileOutput](t)(mgmt.IAM.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("admin"), Password: aws.String(adminPassword)}))
	srcRole := testenv.Must[string](t)(src.BackupRole(ctx, "backup-role"))
	dstRole := testenv.Must[string](t)(dst.BackupRole(ctx, "AWSBackupDefaultServiceRole"))
	b := startChrome(t)

	// The management account opts in to cross-account backup.
	b.do("management-signin", signInActions(c.URL, testenv.ManagementAccount, adminPassword)...)
	b.do("cross-account-backup",
		chromedp.Navigate(c.URL+"/console/organization"),
		chromedp.WaitVisible("#accounts"),
		chromedp.Click("#enable-cross-account"),
		waitDone("Cross-account backup is now enabled."),
	)
	if got := b.text("#accounts"); !strings.Contains(got, testenv.SourceAccount) || !strings.Contains(got, testenv.BackupAccount) {
		t.Fatalf("the organization's accounts: %q", got)
	}
	b.do("management-signout", signOut())

	// Source account: the shared key, the database, the vault.
	b.do("source-signin", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("source-key", createKey(c.URL, "alias/source-cmk", testenv.BackupAccount))
	srcKey := b.text("#key-arn")
	b.do("source-database",
		chromedp.Navigate(c.URL+"/console/databases"),
		chromedp.WaitVisible("#create-db"),
		chromedp.SetValue("#db-identifier", "orders-db"),
		chromedp.SetValue("#db-engine", "sqlite"),
		keyOption("alias/source-cmk"),
		chromedp.Click("#create-db-submit"),
		waitDone("is being created."),
	)
	db := testenv.Must[*scenario.DB](t)(src.WaitDB(ctx, "orders-db"))
	conn := testenv.Must[*sql.DB](t)(db.Open())
	if err := scenario.FillOrders(conn, 300); err != nil {
		t.Fatal(err)
	}
	wantN, wantSum, err := scenario.CountOrders(conn)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	b.do("source-database-available", chromedp.Reload(), chromedp.WaitVisible("#db-orders-db"))
	if got := b.text("#db-orders-db .status"); got != "available" {
		t.Fatalf("database status = %q", got)
	}
	if got := b.value("#db-orders-db .endpoint"); got != db.Address {
		t.Fatalf("endpoint shown = %q, want %q", got, db.Address)
	}
	b.do("source-vault", createVault(c.URL, "source-vault", "alias/source-cmk", true))
	srcVault := b.text("#vault-arn")
	b.do("source-backup",
		chromedp.SetValue("#backup-resource", db.ARN),
		chromedp.SetValue("#backup-role", srcRole),
		chromedp.Click("#start-backup"),
		waitDone("started."),
	)
	b.do("source-backup-completed", waitJobs("COMPLETED"))

	// The recovery point's lifecycle: a deletion too soon after the move
	// to cold storage is refused in AWS Backup's words, then a year's
	// retention.
	b.do("lifecycle-refused",
		chromedp.Navigate(c.URL+"/console/vaults/source-vault"),
		chromedp.WaitVisible("#recovery-points"),
		chromedp.Click("#recovery-points details:nth-of-type(3) summary"),
		chromedp.SetValue(".lifecycle-form input[name=cold]", "10"),
		chromedp.SetValue(".lifecycle-form input[name=delete]", "50"),
		chromedp.Click(".lifecycle-form button"),
		waitText("#error", "DeleteAfterDays"),
	)
	b.do("lifecycle",
		chromedp.Click("#recovery-points details:nth-of-type(3) summary"),
		// The page the refusal answered shows the lifecycle unchanged:
		// no move to cold storage.
		chromedp.SetValue(".lifecycle-form input[name=delete]", "365"),
		chromedp.Click(".lifecycle-form button"),
		waitDone("Lifecycle saved."),
	)
	if got := b.text("#recovery-points .lifecycle"); !strings.Contains(got, "deleted after 365 days") || strings.Contains(got, "cold") {
		t.Fatalf("lifecycle shown: %q", got)
	}
	// A legal hold on the vault's recovery points: deleting one is then
	// refused, until the hold is canceled.
	b.do("legal-hold",
		chromedp.SetValue("#hold-title", "audit-2026"),
		chromedp.SetValue("#hold-description", "records kept for the audit"),
		chromedp.Click("#create-legal-hold"),
		waitDone("created."),
	)
	if got := b.text("#legal-holds"); !strings.Contains(got, "audit-2026") || !strings.Contains(got, "ACTIVE") {
		t.Fatalf("legal holds: %q", got)
	}
	b.do("held-delete-refused", acceptConfirm(), chromedp.Click("#recovery-points form[data-confirm] button"), waitText("#error", "under legal hold"))
	b.do("legal-hold-canceled",
		chromedp.Click("#legal-holds details summary"),
		chromedp.SetValue(".cancel-hold-form input[name=description]", "audit closed"),
		chromedp.Click(".cancel-hold-form button"),
		waitDone("canceled."),
	)
	if got := b.text("#legal-holds"); !strings.Contains(got, "CANCELED") || !strings.Contains(got, "audit closed") {
		t.Fatalf("legal holds after the cancellation: %q", got)
	}
	for _, op := range []string{"UpdateRecoveryPointLifecycle", "CreateLegalHold", "CancelLegalHold"} {
		b.do("events-"+op, chromedp.Navigate(c.URL+"/console/events?key=EventName&value="+op), waitText("#events", op))
	}
	b.do("source-dashboard", chromedp.Navigate(c.URL+"/console/"), chromedp.WaitVisible("#rpo"))
	if got := b.text("#rpo"); !strings.Contains(got, "orders-db") || !strings.Contains(got, "source-vault") {
		t.Fatalf("protected resources: %q", got)
	}
	// Readable on a phone: nothing wider than the screen.
	b.do("source-dashboard-390px", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible("#rpo"))
	b.fits(390)
	b.do("source-vault-390px", chromedp.Navigate(c.URL+"/console/vaults/source-vault"), chromedp.WaitVisible("#recovery-points"))
	b.fits(390)
	b.do("desktop-again", chromedp.EmulateViewport(1280, 900))
	b.do("source-signout", signOut())

	// Backup account: its own key, the vault with the organization
	// policy; its default service role may use the source key.
	b.do("backup-signin", signInActions(c.URL, testenv.BackupAccount, adminPassword)...)
	b.do("backup-key", createKey(c.URL, "alias/backup-cmk", testenv.SourceAccount))
	dstKey := b.text("#key-arn")
	b.do("backup-vault", createVault(c.URL, "backup-vault", "alias/backup-cmk", true))
	dstVault := b.text("#vault-arn")
	if err := dst.AllowKeyUse(ctx, "AWSBackupDefaultServiceRole", srcKey); err != nil {
		t.Fatal(err)
	}
	b.do("backup-signout", signOut())

	// Source account: copy the recovery point into the backup vault and
	// watch the copy job complete.
	b.do("source-signin-again", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("source-copy", chromedp.Navigate(c.URL+"/console/vaults/source-vault"), chromedp.WaitVisible("#recovery-points"), copyTo(dstVault, srcRole))
	b.do("source-copy-completed", waitJobs("COMPLETED"))
	b.do("source-signout-again", signOut())

	// Backup account: restore the copy with the backup key.
	b.do("backup-signin-again", signInActions(c.URL, testenv.BackupAccount, adminPassword)...)
	b.do("backup-restore",
		chromedp.Navigate(c.URL+"/console/vaults/backup-vault"),
		chromedp.WaitVisible("#recovery-points"),
		chromedp.Click("#recovery-points details:nth-of-type(2) summary"),
		setRestoreMetadata(map[string]string{"DBInstanceIdentifier": "orders-restored", "KmsKeyId": dstKey}),
		chromedp.SetValue(".restore-form input[name=role]", dstRole),
		chromedp.Click(".restore-form button"),
		waitDone("Restore job"),
	)
	b.do("backup-restore-completed", waitJobs("COMPLETED"))

	restored := testenv.Must[*scenario.DB](t)(dst.WaitDB(ctx, "orders-restored"))
	if restored.KeyID != dstKey {
		t.Errorf("restored database's key = %s, want the backup key %s", restored.KeyID, dstKey)
	}
	conn = testenv.Must[*sql.DB](t)(restored.Open())
	defer conn.Close()
	gotN, gotSum, err := scenario.CountOrders(conn)
	if err != nil || gotN != wantN || gotSum != wantSum {
		t.Fatalf("restored rows %d (sum %d, %v), source %d (sum %d)", gotN, gotSum, err, wantN, wantSum)
	}
	b.do("backup-databases", chromedp.Navigate(c.URL+"/console/databases"), chromedp.WaitVisible("#db-orders-restored"))
	b.do("backup-vault-copy", chromedp.Navigate(c.URL+"/console/vaults/backup-vault"), chromedp.WaitVisible("#recovery-points"))
	copyARN := b.value(".restore-form input[name=recoveryPoint]")

	// The copy goes back into the source vault (its policy admits the
	// organization; the backup key is shared with the source account,
	// whose default service role may use it).
	testenv.Must[string](t)(src.BackupRole(ctx, "AWSBackupDefaultServiceRole"))
	if err := src.AllowKeyUse(ctx, "AWSBackupDefaultServiceRole", dstKey); err != nil {
		t.Fatal(err)
	}
	b.do("backup-copy-back", copyTo(srcVault, dstRole))
	b.do("backup-copy-back-completed", waitJobs("COMPLETED"))
	b.do("backup-signout-last", signOut())

	// The source administrator can neither see nor delete the backup
	// account's copy, even with a hand-made form naming it.
	b.do("source-signin-last", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("source-cannot-delete-copy",
		chromedp.Navigate(c.URL+"/console/vaults/source-vault"),
		chromedp.WaitVisible("#recovery-points"),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
				const f = document.querySelector("form[data-confirm]");
				f.action = "/console/vaults/backup-vault/delete";
				f.querySelector("input[name=recoveryPoint]").value = %q;
				HTMLFormElement.prototype.submit.call(f);
				return true;
			})()`, copyARN))(ctx, t)
			return err
		}),
		waitText("#error", "ResourceNotFoundException"),
	)
	if _, err := dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)}); err != nil {
		t.Fatalf("the backup account's copy after the source administrator's attempt: %v", err)
	}
	// The source vault holds its backup and the copy that came back.
	b.do("source-vault-copied-back", chromedp.Navigate(c.URL+"/console/vaults/source-vault"), chromedp.WaitVisible("#recovery-points"))
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-points tbody tr .copy-form").length`)); err != nil || n != 2 {
		t.Fatalf("recovery points in the source vault: %d (%v), want the backup and the copy back", n, err)
	}
}

// waitJobs waits on the jobs page until every job shows state; the
// page must not reload meanwhile (its script updates the rows), and a
// FAILED job ends the wait with its message.
func waitJobs(state string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.WaitVisible("#jobs")(ctx, t); err != nil {
			return err
		}
		if _, err := chromedp.Evaluate[bool](`window.cofferNoReload = true`)(ctx, t); err != nil {
			return err
		}
		expr := `(() => {
			const rows = Array.from(document.querySelectorAll("#jobs tbody tr[id]"));
			const failed = rows.find(r => r.querySelector(".state").textContent === "FAILED");
			if (failed) { return "FAILED: " + failed.querySelector(".message").textContent; }
			if (!window.cofferNoReload) { return "reloaded"; }
			return rows.length > 0 && rows.every(r => r.querySelector(".state").textContent === ` + fmt.Sprintf("%q", state) + `) ? "done" : "";
		})()`
		_, err := pollUntil("every job to be "+state, func(ctx context.Context, t *chromedp.Target) (bool, error) {
			got, err := chromedp.Evaluate[string](expr)(ctx, t)
			switch {
			case err != nil:
				return false, err
			case got != "" && got != "done":
				return false, fmt.Errorf("jobs page: %s", got)
			}
			return got == "done", nil
		})(ctx, t)
		return err
	})
}

// copyTo copies the vault page's first recovery point into the vault
// with ARN dest, with role.
func copyTo(dest, role string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Click("#recovery-points details summary"),
		chromedp.SetValue(".copy-form input[name=destination]", dest),
		chromedp.SetValue(".copy-form input[name=role]", role),
		chromedp.Click(".copy-form button"),
		waitDone("Copy job"),
	)
}

// setRestoreMetadata sets keys of the restore form's metadata, keeping
// the other lines the page prefilled.
func setRestoreMetadata(set map[string]string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		b, err := json.Marshal(set)
		if err != nil {
			return err
		}
		_, err = chromedp.Evaluate[bool](`(() => {
			const ta = document.querySelector(".restore-form textarea[name=metadata]");
			const set = `+string(b)+`;
			const lines = ta.value.split("\n").filter(l => l.includes("=") && !(l.split("=")[0] in set));
			for (const k in set) { lines.push(k + "=" + set[k]); }
			ta.value = lines.join("\n");
			return true;
		})()`)(ctx, t)
		return err
	})
}

// DB snapshots of an SQLite instance from its Databases page: take one,
// see it available (manual), restore it into a new instance listed among
// the databases, delete it; each step audited as the user's call.
func TestConsoleDBSnapshots(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	givePasswords(t, c)
	src := scenario.NewAccount(testenv.SourceAccount, c.AWSConfig(t, c.Profile(t, "source")))
	b := startChrome(t)
	b.do("signin", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("database",
		chromedp.Navigate(c.URL+"/console/databases"),
		chromedp.WaitVisible("#create-db"),
		chromedp.SetValue("#db-identifier", "notes-db"),
		chromedp.SetValue("#db-engine", "sqlite"),
		chromedp.Click("#create-db-submit"),
		waitDone("is being created."),
	)
	testenv.Must[*scenario.DB](t)(src.WaitDB(context.Background(), "notes-db"))
	b.do("snapshot",
		chromedp.Navigate(c.URL+"/console/databases"),
		chromedp.WaitVisible("#db-notes-db"),
		chromedp.Click("#db-notes-db .snapshots-link"),
		chromedp.WaitVisible("#create-snapshot"),
		chromedp.SetValue("#snapshot-identifier", "notes-snap"),
		chromedp.Click("#create-snapshot-submit"),
		waitDone("Snapshot notes-snap is being created."),
		reloadUntil("#snap-notes-snap .status", "available"),
	)
	if got := b.text("#snap-notes-snap .type"); got != "manual" {
		t.Fatalf("snapshot type = %q", got)
	}
	b.do("restore",
		chromedp.SetValue("#snap-notes-snap .restore-snapshot-form input[name=identifier]", "notes-restored"),
		chromedp.Click("#snap-notes-snap .restore-snapshot-form button"),
		waitDone("Database notes-restored is being restored."),
		chromedp.Navigate(c.URL+"/console/databases"),
		chromedp.WaitVisible("#db-notes-restored"),
	)
	b.do("delete",
		chromedp.Navigate(c.URL+"/console/databases/notes-db/snapshots"),
		chromedp.WaitVisible("#snap-notes-snap"),
		acceptConfirm(),
		chromedp.Click("#snap-notes-snap .delete-snapshot-form button"),
		waitDone("Snapshot notes-snap deleted."),
	)
	if got := b.text("#snapshots"); strings.Contains(got, "notes-snap") {
		t.Fatalf("snapshots after the delete: %q", got)
	}
	for _, op := range []string{"CreateDBSnapshot", "RestoreDBInstanceFromDBSnapshot", "DeleteDBSnapshot"} {
		if evs := lookupEvents(t, c, op); len(evs) != 1 || evs[0].Username != "admin" {
			t.Fatalf("%s events: %+v", op, evs)
		}
	}
}

// reloadUntil reloads the page until the element sel contains text.
func reloadUntil(sel, text string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.includes(%q)`, sel, text)
	return pollUntil(fmt.Sprintf("%q in %s after a reload", text, sel), func(ctx context.Context, t *chromedp.Target) (bool, error) {
		if ok, err := chromedp.Evaluate[bool](expr)(ctx, t); err == nil && ok {
			return true, nil
		}
		_, err := chromedp.Reload()(ctx, t)
		return false, err
	})
}
