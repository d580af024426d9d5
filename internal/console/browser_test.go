package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
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
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("step %d %s: %v", c.step, name, err)
	}
	shot, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
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
	b := startChrome(t)

	b.do("source-signin", signInActions(c.URL, testenv.SourceAccount, adminPassword)...)
	b.do("dashboard", chromedp.WaitVisible("main h1"))

	// The source key, shared with the backup account through the template.
	b.do("source-key",
		chromedp.Navigate(c.URL+"/console/keys"),
		chromedp.WaitVisible("#create-key"),
		chromedp.SetValue("#key-alias", "alias/source-cmk"),
		chromedp.SetValue("#key-description", "source CMK"),
		chromedp.SetValue("#share-account", testenv.BackupAccount),
		chromedp.Click("#share-template"),
		chromedp.Click("#create-key-submit"),
		waitDone("created."),
	)
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

	// The source vault under the source key.
	b.do("source-vault",
		chromedp.Navigate(c.URL+"/console/vaults"),
		chromedp.WaitVisible("#create-vault"),
		chromedp.SetValue("#vault-name", "source-vault"),
		keyOption("alias/source-cmk"),
		chromedp.Click("#create-vault-submit"),
		waitDone("created."),
	)
	b.do("source-vault-policy",
		chromedp.Click("#org-template"),
		chromedp.Click("#save-vault-policy"),
		waitDone("Access policy saved."),
	)
	b.do("source-signout", signOut())

	// The backup account: its own key (not shared), vault and policy.
	b.do("backup-signin", signInActions(c.URL, testenv.BackupAccount, adminPassword)...)
	b.do("backup-key",
		chromedp.Navigate(c.URL+"/console/keys"),
		chromedp.WaitVisible("#create-key"),
		chromedp.SetValue("#key-alias", "alias/backup-cmk"),
		chromedp.Click("#create-key-submit"),
		waitDone("created."),
	)
	b.do("backup-vault",
		chromedp.Navigate(c.URL+"/console/vaults"),
		chromedp.WaitVisible("#create-vault"),
		chromedp.SetValue("#vault-name", "backup-vault"),
		keyOption("alias/backup-cmk"),
		chromedp.Click("#create-vault-submit"),
		waitDone("created."),
		chromedp.Click("#org-template"),
		chromedp.Click("#save-vault-policy"),
		waitDone("Access policy saved."),
	)
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
	b.do("source-cannot-see-backup-vault", chromedp.Navigate(c.URL+"/console/vaults/backup-vault"), chromedp.WaitVisible("#error"))
	if got := b.text("#error"); !strings.Contains(got, "ResourceNotFoundException") {
		t.Fatalf("the backup account's vault for the source administrator: %q", got)
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
	expr := fmt.Sprintf(`(document.querySelector(".done") || {textContent: ""}).textContent.includes(%q)`, text)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			if ok, err := chromedp.Evaluate[bool](expr)(ctx, t); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %q: %w", text, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}
