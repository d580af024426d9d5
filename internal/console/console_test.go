package console_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

const adminPassword = "Console-Test-Pass-1"

// givePasswords gives the admins of the source and backup accounts a
// console password through the IAM API.
func givePasswords(t *testing.T, c *testenv.Coffer) {
	t.Helper()
	for _, profile := range []string{"source", "backup"} {
		admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, profile)))
		testenv.Must[*iam.CreateLoginProfileOutput](t)(admin.CreateLoginProfile(context.Background(), &iam.CreateLoginProfileInput{
			UserName: aws.String("admin"), Password: aws.String(adminPassword)}))
	}
}

// browser is an HTTP client with its own cookies, as a browser has.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	status, body := b.get(path)
	m := csrfRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d without a CSRF token: %.300s", path, status, body)
	}
	return m[1]
}

func (b *browser) signIn(account, user, password string) (int, string, string) {
	b.t.Helper()
	return b.post("/console/signin", url.Values{"csrf": {b.csrf("/console/signin")}, "account": {account}, "username": {user}, "password": {password}})
}

// Sign-in, wrong passwords and lockout, CSRF, session expiry and
// sign-out, and the ConsoleLogin events in the audit trail.
func TestConsoleSessions(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	givePasswords(t, c)
	ctx := context.Background()

	// Without a session every page sends the browser to sign in.
	b := newBrowser(t, c.URL)
	if status, _ := b.get("/console/vaults"); status != http.StatusSeeOther {
		t.Fatalf("GET /console/vaults without a session: %d", status)
	}
	// The sign-in form needs its CSRF cookie and token.
	if status, _, _ := b.post("/console/signin", url.Values{"account": {testenv.SourceAccount}, "username": {"admin"}, "password": {adminPassword}}); status != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF token: %d", status)
	}
	status, body, _ := b.signIn(testenv.SourceAccount, "admin", "wrong-password")
	if status != http.StatusUnauthorized || !strings.Contains(body, "Your authentication information is incorrect") {
		t.Fatalf("wrong password: %d %.300s", status, body)
	}
	status, _, loc := b.signIn(testenv.SourceAccount, "admin", adminPassword)
	if status != http.StatusSeeOther || loc != "/console/" {
		t.Fatalf("sign-in: %d to %q", status, loc)
	}
	for _, c := range b.c.Jar.Cookies(mustURL(t, c.URL+"/console/")) {
		if c.Name == "coffer_console" && c.Value == "" {
			t.Fatal("empty session cookie")
		}
	}
	status, body = b.get("/console/")
	if status != http.StatusOK || !strings.Contains(body, "admin @ "+testenv.SourceAccount) {
		t.Fatalf("dashboard: %d %.300s", status, body)
	}

	// A change without the session's CSRF token, or with another one, is refused.
	if status, _, _ := b.post("/console/vaults", url.Values{"name": {"no-csrf"}}); status != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: %d", status)
	}
	if status, _, _ := b.post("/console/vaults", url.Values{"name": {"bad-csrf"}, "csrf": {"x" + b.csrf("/console/vaults")}}); status != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", status)
	}
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/console/vaults", strings.NewReader(url.Values{"name": {"cross-origin"}, "csrf": {b.csrf("/console/vaults")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %v %v", resp, err)
	}
	if status, _, loc := b.post("/console/vaults", url.Values{"name": {"with-csrf"}, "csrf": {b.csrf("/console/vaults")}}); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/vaults/with-csrf") {
		t.Fatalf("POST with CSRF token: %d %s", status, loc)
	}

	// Sessions expire after an hour unused.
	var offset atomic.Int64
	c.App.Console().SetClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	offset.Store(int64(61 * time.Minute))
	if status, _ := b.get("/console/"); status != http.StatusSeeOther {
		t.Fatalf("expired session: %d", status)
	}
	offset.Store(0)
	if status, _ := b.get("/console/"); status != http.StatusSeeOther {
		t.Fatalf("an expired session came back: %d", status)
	}

	// Sign-out ends the session.
	b.signIn(testenv.SourceAccount, "admin", adminPassword)
	token := b.csrf("/console/")
	if status, _, _ := b.post("/console/signout", url.Values{"csrf": {token}}); status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", status)
	}
	if status, _ := b.get("/console/"); status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", status)
	}

	// Lockout after repeated wrong passwords, even for the right one,
	// until an administrator sets a new password.
	for i := 1; i < identity.MaxFailedSignIns; i++ {
		if status, _, _ := b.signIn(testenv.BackupAccount, "admin", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, status)
		}
	}
	status, body, _ = b.signIn(testenv.BackupAccount, "admin", "wrong-password")
	if status != http.StatusUnauthorized || !strings.Contains(body, "Too many failed sign-in attempts") {
		t.Fatalf("lockout: %d %.300s", status, body)
	}
	if status, body, _ := b.signIn(testenv.BackupAccount, "admin", adminPassword); status != http.StatusUnauthorized || !strings.Contains(body, "Too many failed") {
		t.Fatalf("right password while locked: %d %.200s", status, body)
	}
	backupIAM := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))
	testenv.Must[*iam.UpdateLoginProfileOutput](t)(backupIAM.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("admin"), Password: aws.String("Unlocked-Pass-2"), PasswordResetRequired: aws.Bool(true)}))
	if status, _, _ := b.signIn(testenv.BackupAccount, "admin", "Unlocked-Pass-2"); status != http.StatusSeeOther {
		t.Fatalf("sign-in after the reset: %d", status)
	}
	// A password marked for reset must be changed first.
	if status, _ := b.get("/console/vaults"); status != http.StatusSeeOther {
		t.Fatalf("a page before the required password change: %d", status)
	}
	token = b.csrf("/console/password")
	if status, body, _ := b.post("/console/password", url.Values{"csrf": {token}, "old": {"Unlocked-Pass-2"}, "new": {"Changed-Pass-3"}, "confirm": {"Changed-Pass-3"}}); status != http.StatusSeeOther {
		t.Fatalf("change password: %d %.300s", status, body)
	}
	if status, _ := b.get("/console/vaults"); status != http.StatusOK {
		t.Fatalf("a page after the password change: %d", status)
	}
	// Deleting the login profile ends the user's sessions.
	testenv.Must[*iam.DeleteLoginProfileOutput](t)(backupIAM.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("admin")}))
	if status, _ := b.get("/console/vaults"); status != http.StatusSeeOther {
		t.Fatalf("a session after DeleteLoginProfile: %d", status)
	}

	// The audit trail has the sign-ins as CloudTrail records them (read
	// with the AWS CLI v2's cloudtrail lookup-events).
	var ok, failed int
	for _, e := range lookupEvents(t, c, "ConsoleLogin") {
		if e.EventSource != "signin.amazonaws.com" {
			t.Errorf("ConsoleLogin from %s", e.EventSource)
		}
		if !strings.Contains(e.CloudTrailEvent, `"eventType":"AwsConsoleSignIn"`) {
			t.Errorf("ConsoleLogin event type: %s", e.CloudTrailEvent)
		}
		if !strings.Contains(e.CloudTrailEvent, `"additionalEventData":{"LoginTo":"`+c.URL+`/console/`) || !strings.Contains(e.CloudTrailEvent, `"MobileVersion":"No","MFAUsed":"No"}`) {
			t.Errorf("ConsoleLogin additionalEventData: %s", e.CloudTrailEvent)
		}
		switch {
		case strings.Contains(e.CloudTrailEvent, `"errorMessage":"Failed authentication"`) && strings.Contains(e.CloudTrailEvent, "HIDDEN_DUE_TO_SECURITY_REASONS") &&
			strings.Contains(e.CloudTrailEvent, `"responseElements":{"ConsoleLogin":"Failure"}`):
			failed++
		case !strings.Contains(e.CloudTrailEvent, "errorMessage") && e.Username == "admin" && strings.Contains(e.CloudTrailEvent, `"responseElements":{"ConsoleLogin":"Success"}`):
			ok++
		}
		if strings.Contains(e.CloudTrailEvent, adminPassword) || strings.Contains(e.CloudTrailEvent, "wrong-password") {
			t.Fatalf("a password in the audit trail: %s", e.CloudTrailEvent)
		}
	}
	if ok < 2 || failed < 1 {
		t.Fatalf("ConsoleLogin events: %d successful, %d failed", ok, failed)
	}
	// Console actions are audited as the user's calls.
	evs := lookupEvents(t, c, "CreateBackupVault")
	if len(evs) != 1 || evs[0].Username != "admin" || !strings.Contains(evs[0].CloudTrailEvent, "with-csrf") {
		t.Fatalf("CreateBackupVault events: %+v", evs)
	}
}

type trailEvent struct {
	EventName, EventSource, Username, CloudTrailEvent string
}

// lookupEvents reads the source account's events of one name with the
// AWS CLI v2.
func lookupEvents(t *testing.T, c *testenv.Coffer, name string) []trailEvent {
	t.Helper()
	cmd := exec.Command(testenv.AWSCLIv2(t), "--endpoint-url", c.URL, "cloudtrail", "lookup-events", "--output", "json",
		"--lookup-attributes", "AttributeKey=EventName,AttributeValue="+name)
	cmd.Env = c.CLIEnv("source")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws cloudtrail lookup-events: %v\n%s", err, out)
	}
	var res struct{ Events []trailEvent }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("lookup-events output: %v\n%s", err, out)
	}
	return res.Events
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var mfaCSRFRe = regexp.MustCompile(`id="mfa-form">\s*<input type="hidden" name="csrf" value="([^"]+)"`)

// A user with a virtual MFA device signs in with a code after the
// password; a wrong code, a replayed code or a missing CSRF token fail.
func TestConsoleMFA(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartSeed(t, nil)
	givePasswords(t, c)
	admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	d := testenv.Must[*iam.CreateVirtualMFADeviceOutput](t)(admin.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("admin-phone")}))
	seed := testenv.Must[[]byte](t)(base32.StdEncoding.DecodeString(string(d.VirtualMFADevice.Base32StringSeed)))
	now := time.Now()
	testenv.Must[*iam.EnableMFADeviceOutput](t)(admin.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("admin"), SerialNumber: d.VirtualMFADevice.SerialNumber,
		AuthenticationCode1: aws.String(identity.TOTPCode(seed, now.Add(-30*time.Second))), AuthenticationCode2: aws.String(identity.TOTPCode(seed, now))}))

	b := newBrowser(t, c.URL)
	mfaStep := func() string {
		t.Helper()
		status, body, _ := b.signIn(testenv.SourceAccount, "admin", adminPassword)
		m := mfaCSRFRe.FindStringSubmatch(body)
		if status != http.StatusOK || m == nil {
			t.Fatalf("password step: %d %.300s", status, body)
		}
		return m[1]
	}
	token := mfaStep()
	if status, _, _ := b.post("/console/signin/mfa", url.Values{"code": {"000000"}}); status != http.StatusForbidden {
		t.Fatalf("MFA step without CSRF token: %d", status)
	}
	wrong := "000000"
	if wrong == identity.TOTPCode(seed, now.Add(30*time.Second)) {
		wrong = "000001"
	}
	status, body, _ := b.post("/console/signin/mfa", url.Values{"csrf": {token}, "code": {wrong}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "The MFA code is not valid") {
		t.Fatalf("wrong MFA code: %d %.300s", status, body)
	}
	// The codes the device was enabled with are spent; the next one works.
	if status, _, _ := b.post("/console/signin/mfa", url.Values{"csrf": {token}, "code": {identity.TOTPCode(seed, now)}}); status != http.StatusUnauthorized {
		t.Fatalf("a code used by EnableMFADevice: %d", status)
	}
	next := identity.TOTPCode(seed, now.Add(30*time.Second))
	if status, _, loc := b.post("/console/signin/mfa", url.Values{"csrf": {token}, "code": {next}}); status != http.StatusSeeOther || loc != "/console/" {
		t.Fatalf("right MFA code: %d %s", status, loc)
	}
	if status, body := b.get("/console/"); status != http.StatusOK || !strings.Contains(body, "admin @ "+testenv.SourceAccount) {
		t.Fatalf("dashboard after MFA: %d", status)
	}
	b.post("/console/signout", url.Values{"csrf": {b.csrf("/console/")}})

	// A code signs in once.
	token = mfaStep()
	if status, _, _ := b.post("/console/signin/mfa", url.Values{"csrf": {token}, "code": {next}}); status != http.StatusUnauthorized {
		t.Fatalf("a replayed MFA code: %d", status)
	}
	if status, _, _ := b.post("/console/signin/mfa", url.Values{"csrf": {token}, "code": {identity.TOTPCode(seed, now.Add(60*time.Second))}}); status != http.StatusSeeOther {
		t.Fatalf("the following MFA code: %d", status)
	}
	// Without the password step there is no MFA step.
	fresh := newBrowser(t, c.URL)
	if status, _, loc := fresh.post("/console/signin/mfa", url.Values{"csrf": {token}, "code": {"123456"}}); status != http.StatusSeeOther || loc != "/console/signin" {
		t.Fatalf("MFA step without a password step: %d %s", status, loc)
	}
	// The sign-ins with a code are recorded with MFAUsed, the failed
	// codes too.
	var ok, failed int
	for _, e := range lookupEvents(t, c, "ConsoleLogin") {
		if !strings.Contains(e.CloudTrailEvent, `"additionalEventData":{"LoginTo":"`+c.URL+`/console/","MobileVersion":"No","MFAUsed":"Yes"}`) {
			t.Errorf("ConsoleLogin additionalEventData: %s", e.CloudTrailEvent)
		}
		if strings.Contains(e.CloudTrailEvent, `"ConsoleLogin":"Success"`) {
			ok++
		} else {
			failed++
		}
	}
	if ok != 2 || failed < 3 {
		t.Fatalf("ConsoleLogin events with MFA: %d successful, %d failed", ok, failed)
	}
}

// Switch role: the management account's administrator acts in a member
// account as its OrganizationAccountAccessRole, and back; a role the
// trust policy does not open is refused in AWS's words.
func TestConsoleSwitchRole(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartSeed(t, nil)
	givePasswords(t, c)
	mgmt := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	testenv.Must[*iam.CreateLoginProfileOutput](t)(mgmt.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("admin"), Password: aws.String(adminPassword)}))
	src := scenario.NewAccount(testenv.SourceAccount, c.AWSConfig(t, c.Profile(t, "source")))
	testenv.Must[string](t)(src.Vault(ctx, "member-vault", ""))

	b := newBrowser(t, c.URL)
	b.signIn(testenv.ManagementAccount, "admin", adminPassword)
	if _, body := b.get("/console/vaults"); strings.Contains(body, "member-vault") {
		t.Fatal("the management account sees the member's vault before switching")
	}
	status, _, loc := b.post("/console/switch-role", url.Values{"csrf": {b.csrf("/console/switch-role")}, "account": {testenv.SourceAccount}, "role": {"OrganizationAccountAccessRole"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/") {
		t.Fatalf("switch role: %d %s", status, loc)
	}
	_, body := b.get("/console/vaults")
	if !strings.Contains(body, "member-vault") || !strings.Contains(body, "OrganizationAccountAccessRole @ "+testenv.SourceAccount+" (as admin)") {
		t.Fatalf("vaults as the role: %.2000s", body)
	}
	b.post("/console/switch-back", url.Values{"csrf": {b.csrf("/console/")}})
	if _, body := b.get("/console/vaults"); strings.Contains(body, "member-vault") || !strings.Contains(body, "admin @ "+testenv.ManagementAccount) {
		t.Fatal("still acting as the role after switching back")
	}
	b.post("/console/signout", url.Values{"csrf": {b.csrf("/console/")}})

	// The source administrator may not act in the backup account.
	b.signIn(testenv.SourceAccount, "admin", adminPassword)
	_, body, _ = b.post("/console/switch-role", url.Values{"csrf": {b.csrf("/console/switch-role")}, "account": {testenv.BackupAccount}, "role": {"OrganizationAccountAccessRole"}})
	if !strings.Contains(body, "AccessDenied") || !strings.Contains(body, "sts:AssumeRole") {
		t.Fatalf("switching into the backup account: %.2000s", body)
	}
}

// The default bootstrap gives the administrator a console password,
// written 0600 beside the credentials, to be changed at first sign-in.
func TestConsoleBootstrapPassword(t *testing.T) {
	c := testenv.StartCoffer(t, nil)
	info, err := os.Stat(c.App.ConsolePasswordsFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v", c.App.ConsolePasswordsFile, info.Mode().Perm())
	}
	data := testenv.Must[[]byte](t)(os.ReadFile(c.App.ConsolePasswordsFile))
	var fields []string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			fields = strings.Fields(line)
		}
	}
	if len(fields) != 3 || fields[0] != identity.DefaultManagementAccountID || fields[1] != "admin" {
		t.Fatalf("console-passwords file: %q", data)
	}
	b := newBrowser(t, c.URL)
	if status, _, _ := b.signIn(fields[0], fields[1], fields[2]); status != http.StatusSeeOther {
		t.Fatalf("sign-in with the bootstrap password: %d", status)
	}
	if status, _, _ := b.post("/console/password", url.Values{"csrf": {b.csrf("/console/password")}, "old": {fields[2]}, "new": {"Fresh-Admin-Pass-9"}, "confirm": {"Fresh-Admin-Pass-9"}}); status != http.StatusSeeOther {
		t.Fatalf("first password change: %d", status)
	}
	if status, _ := b.get("/console/vaults"); status != http.StatusOK {
		t.Fatalf("vaults after the change: %d", status)
	}
}
