package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/server"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// marker is planted in the victim account's resources (descriptions,
// tags, policies, plaintext); no answer to another account may contain it.
const marker = "VICTIMMARKER7c1e"

// TestNoCrossAccountAccess walks every operation of every service the
// server routes, now and later ones alike, and calls each as the
// administrator of another account of the same organization and of another
// organization, with parameters naming the victim account's resources
// (ARNs, IDs, names) for every parameter name the walk knows. Whatever the
// operation, nothing of the victim account may change and no answer may
// carry the victim's data.
func TestNoCrossAccountAccess(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	victim := testenv.SourceAccount
	vcfg := c.AWSConfig(t, c.Profile(t, "source"))
	dict := plantVictim(t, ctx, c, vcfg)
	before := snapshot(t, ctx, c)

	services := c.App.Handler().(*server.Handler).Services()
	sort.Slice(services, func(i, j int) bool { return services[i].SigningName() < services[j].SigningName() })
	calls, leaks := 0, 0
	outcomes := map[string]int{}
	for _, attacker := range []string{"backup", "outsider"} {
		creds := c.Profile(t, attacker)
		for _, svc := range services {
			for _, probe := range probes(svc, dict) {
				calls++
				status, body := probe.send(t, c.URL, creds)
				outcomes[outcome(status, body)]++
				if bytes.Contains(body, []byte(marker)) || bytes.Contains(body, []byte(base64.StdEncoding.EncodeToString([]byte(marker)))) {
					leaks++
					t.Errorf("%s %s:%s answered %d with the victim's data: %.300s", attacker, svc.SigningName(), probe.op, status, body)
				}
			}
		}
	}
	after := snapshot(t, ctx, c)
	if before != after {
		t.Errorf("the victim account %s changed:\nbefore %s\nafter  %s", victim, before, after)
	}
	if calls < 100 {
		t.Fatalf("only %d calls: the walk found too few operations", calls)
	}
	t.Logf("%d cross-account calls, %d leaks; outcomes: %v", calls, leaks, outcomes)

	// The walk sees the victim's data when the victim itself asks: the
	// check above can fail.
	seen := 0
	for _, svc := range services {
		for _, probe := range probes(svc, dict) {
			if !strings.HasPrefix(probe.op, "Get") && !strings.HasPrefix(probe.op, "Describe") && !strings.HasPrefix(probe.op, "List") {
				continue
			}
			if _, body := probe.send(t, c.URL, c.Profile(t, "source")); bytes.Contains(body, []byte(marker)) {
				seen++
			}
		}
	}
	if seen == 0 {
		t.Fatal("the victim's own reads never show the marker: the walk cannot see a leak")
	}
}

// outcome is the status and error code of an answer, for the log.
func outcome(status int, body []byte) string {
	if status < 300 {
		return strconv.Itoa(status)
	}
	m := regexp.MustCompile(`(?:<Code>|"__type":")([A-Za-z.#]+)`).FindSubmatch(body)
	if m == nil {
		return strconv.Itoa(status)
	}
	return strconv.Itoa(status) + " " + string(m[1])
}

// plantVictim creates the victim account's resources and returns the
// parameter values that name them.
func plantVictim(t *testing.T, ctx context.Context, c *testenv.Coffer, cfg aws.Config) map[string]any {
	t.Helper()
	acct := testenv.SourceAccount
	attacker := "arn:aws:iam::" + testenv.BackupAccount + ":root"
	vi := iam.NewFromConfig(cfg)
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(vi.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("victim-user"), Tags: []iamTag{{Key: aws.String("m"), Value: aws.String(marker)}}}))
	key, err := vi.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("victim-user")})
	check(key, err)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	check(vi.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("victim-role"), AssumeRolePolicyDocument: aws.String(trust), Description: aws.String(marker)}))
	check(vi.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("victim-role"), PolicyName: aws.String("victim-inline"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.ToLower(marker) + `/*"}]}`)}))
	pol, err := vi.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("victim-policy"), Description: aws.String(marker),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`)})
	check(pol, err)

	dict := map[string]any{
		"UserName": "victim-user", "RoleName": "victim-role", "PolicyName": "victim-inline",
		"PolicyArn": aws.ToString(pol.Policy.Arn), "RoleArn": "arn:aws:iam::" + acct + ":role/victim-role",
		"RoleSessionName": "probe", "AccessKeyId": aws.ToString(key.AccessKey.AccessKeyId), "Status": "Inactive",
		"VersionId": "v1", "AccountId": acct, "ServicePrincipal": "backup.amazonaws.com",
		"Email": "probe@example.com", "AccountName": "probe", "Name": "probe", "Description": "changed by another account",
		"PolicyDocument":                 `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
		"AssumeRolePolicyDocument":       `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + attacker + `"},"Action":"sts:AssumeRole"}]}`,
		"Policy":                         `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + attacker + `"},"Action":"*","Resource":"*"}]}`,
		"BypassPolicyLockoutSafetyCheck": true, "PendingWindowInDays": 7, "NumberOfBytes": 16,
		"GranteePrincipal": attacker, "Operations": []string{"Decrypt", "Encrypt"},
		"ResourceArn": "arn:aws:rds:us-east-1:" + acct + ":db:victim-db", "DBInstanceIdentifier": "victim-db",
		"BackupVaultName": "victim-vault", "BackupVaultArn": "arn:aws:backup:us-east-1:" + acct + ":backup-vault:victim-vault",
		"DestinationBackupVaultArn": "arn:aws:backup:us-east-1:" + acct + ":backup-vault:victim-vault", "SourceBackupVaultName": "victim-vault",
		"RecoveryPointArn": "arn:aws:backup:us-east-1:" + acct + ":recovery-point:victim-rp", "IamRoleArn": "arn:aws:iam::" + acct + ":role/victim-role",
		"TagKeys": []string{"m"},
	}
	// The victim's organization structure.
	mgmt := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	roots, err := mgmt.ListRoots(ctx, &organizations.ListRootsInput{})
	check(roots, err)
	dict["ParentId"], dict["SourceParentId"] = aws.ToString(roots.Roots[0].Id), aws.ToString(roots.Roots[0].Id)
	ou, err := mgmt.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("victims")})
	check(ou, err)
	dict["DestinationParentId"] = aws.ToString(ou.OrganizationalUnit.Id)
	ca, err := mgmt.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String("v2@example.com"), AccountName: aws.String("v2")})
	check(ca, err)
	dict["CreateAccountRequestId"] = aws.ToString(ca.CreateAccountStatus.Id)

	// A KMS key, alias, ciphertext and grant, when KMS is served.
	if served(c, "kms") {
		vk := kms.NewFromConfig(cfg)
		k, err := vk.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(marker)})
		check(k, err)
		arn := aws.ToString(k.KeyMetadata.Arn)
		check(vk.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/victim-key"), TargetKeyId: aws.String(arn)}))
		enc, err := vk.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte(marker)})
		check(enc, err)
		g, err := vk.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(arn), GranteePrincipal: aws.String("arn:aws:iam::" + acct + ":role/victim-role"), Operations: []kmsGrantOp{"Decrypt"}})
		check(g, err)
		for k, v := range map[string]any{
			"KeyId": arn, "TargetKeyId": arn, "DestinationKeyId": arn, "SourceKeyId": arn, "AliasName": "alias/victim-key",
			"CiphertextBlob": enc.CiphertextBlob, "Plaintext": []byte("probe"), "Message": []byte("probe"),
			"GrantId": aws.ToString(g.GrantId), "GrantToken": aws.ToString(g.GrantToken),
		} {
			dict[k] = v
		}
	}
	return dict
}

func served(c *testenv.Coffer, name string) bool {
	for _, s := range c.App.Handler().(*server.Handler).Services() {
		if s.SigningName() == name {
			return true
		}
	}
	return false
}

// snapshot is the victim account's state as its own administrator (and,
// for the organization, the management account) sees it.
func snapshot(t *testing.T, ctx context.Context, c *testenv.Coffer) string {
	t.Helper()
	cfg := c.AWSConfig(t, c.Profile(t, "source"))
	vi := iam.NewFromConfig(cfg)
	var parts []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, v)
	}
	users, err := vi.ListUsers(ctx, &iam.ListUsersInput{})
	add(users, err)
	for _, u := range users.Users {
		add(vi.GetUser(ctx, &iam.GetUserInput{UserName: u.UserName}))
		add(vi.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName}))
		add(vi.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: u.UserName}))
		add(vi.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: u.UserName}))
	}
	roles, err := vi.ListRoles(ctx, &iam.ListRolesInput{})
	add(roles, err)
	for _, r := range roles.Roles {
		add(vi.GetRole(ctx, &iam.GetRoleInput{RoleName: r.RoleName}))
		add(vi.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: r.RoleName}))
		add(vi.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: r.RoleName}))
	}
	add(vi.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: "Local"}))
	mgmt := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	add(mgmt.ListAccounts(ctx, &organizations.ListAccountsInput{}))
	add(mgmt.ListAWSServiceAccessForOrganization(ctx, &organizations.ListAWSServiceAccessForOrganizationInput{}))
	roots, err := mgmt.ListRoots(ctx, &organizations.ListRootsInput{})
	add(roots, err)
	add(mgmt.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: roots.Roots[0].Id}))
	add(mgmt.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: roots.Roots[0].Id}))
	if served(c, "kms") {
		vk := kms.NewFromConfig(cfg)
		keys, err := vk.ListKeys(ctx, &kms.ListKeysInput{})
		add(keys, err)
		for _, k := range keys.Keys {
			add(vk.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyArn}))
			add(vk.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: k.KeyArn, PolicyName: aws.String("default")}))
			add(vk.ListGrants(ctx, &kms.ListGrantsInput{KeyId: k.KeyArn}))
			add(vk.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k.KeyArn}))
		}
		add(vk.ListAliases(ctx, &kms.ListAliasesInput{}))
	}
	b, err := json.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	// Drop what changes without anyone changing anything.
	return regexp.MustCompile(`"ResultMetadata":\{[^}]*\}`).ReplaceAllString(string(b), "")
}

// probe is one signed request to one operation.
type probe struct {
	op   string
	send func(t *testing.T, base string, creds aws.Credentials) (int, []byte)
}

// probes builds, for every operation of svc, a request carrying every
// known parameter.
func probes(svc protocol.Service, dict map[string]any) []probe {
	name := svc.SigningName()
	var out []probe
	switch s := svc.(type) {
	case *protocol.QueryService:
		for op := range s.Ops {
			form := url.Values{"Action": {op}, "Version": {s.Version}}
			for k, v := range dict {
				switch x := v.(type) {
				case []string:
					for i, e := range x {
						form.Set(k+".member."+strconv.Itoa(i+1), e)
					}
				case []byte:
					form.Set(k, base64.StdEncoding.EncodeToString(x))
				default:
					form.Set(k, toString(x))
				}
			}
			form.Set("Tags.member.1.Key", "probe")
			form.Set("Tags.member.1.Value", "probe")
			body := form.Encode()
			out = append(out, probe{op, func(t *testing.T, base string, creds aws.Credentials) (int, []byte) {
				return signedDo(t, "POST", base+"/", body, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, creds, name)
			}})
		}
	case *protocol.JSONService:
		body, _ := json.Marshal(jsonDict(dict, []map[string]string{{"TagKey": "probe", "TagValue": "probe"}}))
		for op := range s.Ops {
			target := s.TargetPrefix + "." + op
			out = append(out, probe{op, func(t *testing.T, base string, creds aws.Credentials) (int, []byte) {
				return signedDo(t, "POST", base+"/", string(body), map[string]string{"Content-Type": s.ContentType, "X-Amz-Target": target}, creds, name)
			}})
		}
	case *protocol.RESTService:
		body, _ := json.Marshal(jsonDict(dict, map[string]string{"probe": "probe"}))
		for _, r := range s.Routes() {
			method, path, _ := strings.Cut(r.Pattern, " ")
			path = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`).ReplaceAllStringFunc(path, func(m string) string {
				key := strings.Trim(m, "{}.")
				for k, v := range dict {
					if strings.EqualFold(k, key) {
						return url.PathEscape(toString(v))
					}
				}
				return "probe-" + key
			})
			out = append(out, probe{r.Operation, func(t *testing.T, base string, creds aws.Credentials) (int, []byte) {
				return signedDo(t, method, base+path, string(body), map[string]string{"Content-Type": "application/json"}, creds, name)
			}})
		}
	}
	return out
}

// jsonDict is dict as a JSON request: byte slices base64, Tags in the
// service's shape.
func jsonDict(dict map[string]any, tags any) map[string]any {
	out := map[string]any{"Tags": tags}
	for k, v := range dict {
		out[k] = v
	}
	return out
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func signedDo(t *testing.T, method, target, body string, headers map[string]string, creds aws.Credentials, service string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type (
	iamTag     = iamtypes.Tag
	kmsGrantOp = kmstypes.GrantOperation
)
