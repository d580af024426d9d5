package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	stsapi "github.com/coffer-dev/coffer/internal/api/sts"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/server"
)

const (
	testAccount = "111122223333"
	testKeyID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	region      = "us-east-1"
)

// fixture is a handler with the real identity service on SQLite, the
// real STS adapter, and small kms (awsJson) and backup (restJson) test
// services exercising the other two codecs.
type fixture struct {
	url   string
	creds aws.Credentials
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := rootkey.LoadOrCreateFile(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(store, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, err = ids.ApplyBootstrap(ctx, identity.Bootstrap{
		Accounts: []identity.BootstrapAccount{{ID: testAccount, Name: "test"}},
		Users:    []identity.BootstrapUser{{Account: testAccount, Name: "alice", AccessKeyID: testKeyID, SecretAccessKey: testSecret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(server.Options{
		Auth:         ids,
		Services:     []protocol.Service{stsapi.New(ids), testKMS(), testBackup()},
		Regions:      []string{region, "eu-west-1"},
		MaxBodyBytes: 1 << 20, MaxUnauthenticatedBytes: 4 << 20,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL, creds: aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}}
}

type describeKeyIn struct{ KeyId string }
type keyMetadata struct {
	AWSAccountId string
	KeyId        string
	Arn          string
	CreationDate *protocol.Epoch `json:",omitempty"`
	Enabled      bool
}
type describeKeyOut struct{ KeyMetadata keyMetadata }

var created = time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)

func testKMS() *protocol.JSONService {
	return &protocol.JSONService{
		Name: "kms", TargetPrefix: "TrentService", ContentType: "application/x-amz-json-1.1",
		Ops: map[string]protocol.JSONOp{
			"DescribeKey": protocol.JSONHandler(func(ctx context.Context, in *describeKeyIn) (*describeKeyOut, error) {
				p := identity.Caller(ctx)
				return &describeKeyOut{KeyMetadata: keyMetadata{AWSAccountId: p.AccountID, KeyId: in.KeyId,
					Arn: "arn:aws:kms:us-east-1:" + p.AccountID + ":key/" + in.KeyId, CreationDate: protocol.EpochPtr(created), Enabled: true}}, nil
			}),
		},
	}
}

func testBackup() *protocol.RESTService {
	s := protocol.NewRESTService("backup")
	s.Handle("GET /backup-vaults/{name}/recovery-points/{arn}", "DescribeRecoveryPoint", func(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
		return 0, map[string]string{"BackupVaultName": r.PathValue("name"), "RecoveryPointArn": r.PathValue("arn")}, nil
	})
	return s
}

func (f *fixture) sdkConfig(t *testing.T, creds aws.Credentials) aws.Config {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion(region),
		awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: creds}),
		awsconfig.WithBaseEndpoint(f.url),
		awsconfig.WithRetryMaxAttempts(1),
		awsconfig.WithSharedConfigFiles([]string{}),
		awsconfig.WithSharedCredentialsFiles([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The three protocols, each through its real SDK client.
func TestSDKClients(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cfg := f.sdkConfig(t, f.creds)

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:iam::111122223333:user/alice"; got != want {
		t.Errorf("Arn = %s, want %s", got, want)
	}
	if got := aws.ToString(id.Account); got != testAccount {
		t.Errorf("Account = %s, want %s", got, testAccount)
	}

	key, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(key.KeyMetadata.CreationDate); !got.Equal(created) {
		t.Errorf("CreationDate = %v, want %v", got, created)
	}
	if got := aws.ToString(key.KeyMetadata.AWSAccountId); got != testAccount {
		t.Errorf("AWSAccountId = %s", got)
	}

	// An ARN in the path: the client percent-encodes it, and signs the
	// path encoded once more.
	arn := "arn:aws:backup:us-east-1:111122223333:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"
	rp, err := backup.NewFromConfig(cfg).DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{
		BackupVaultName: aws.String("my vault"), RecoveryPointArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(rp.RecoveryPointArn); got != arn {
		t.Errorf("RecoveryPointArn = %s, want %s", got, arn)
	}
	if got := aws.ToString(rp.BackupVaultName); got != "my vault" {
		t.Errorf("BackupVaultName = %q", got)
	}
}

func TestSDKRejectsBadCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		creds   aws.Credentials
		stsCode string
		kmsCode string
	}{
		{"wrong secret", aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "x" + testSecret[1:]}, "SignatureDoesNotMatch", "InvalidSignatureException"},
		{"unknown key", aws.Credentials{AccessKeyID: "AKIAUNKNOWNUNKNOWN00", SecretAccessKey: testSecret}, "InvalidClientTokenId", "UnrecognizedClientException"},
		{"unexpected session token", aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: "token"}, "InvalidClientTokenId", "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.sdkConfig(t, tt.creds)
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got := errorCode(err); got != tt.stsCode {
				t.Errorf("sts error code = %q (%v), want %s", got, err, tt.stsCode)
			}
			_, err = kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k")})
			if got := errorCode(err); got != tt.kmsCode {
				t.Errorf("kms error code = %q (%v), want %s", got, err, tt.kmsCode)
			}
		})
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// rawRequest builds and (when signAt is non-zero) signs a request.
type rawRequest struct {
	method, path, contentType, target string
	body                              string
	service, region                   string
	signAt                            time.Time
	creds                             aws.Credentials
	mutate                            func(r *http.Request) // after signing
}

func (f *fixture) do(t *testing.T, rr rawRequest) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(rr.method, f.url+rr.path, strings.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	if rr.contentType != "" {
		req.Header.Set("Content-Type", rr.contentType)
	}
	if rr.target != "" {
		req.Header.Set("X-Amz-Target", rr.target)
	}
	if !rr.signAt.IsZero() {
		creds := rr.creds
		if creds.AccessKeyID == "" {
			creds = f.creds
		}
		sum := sha256.Sum256([]byte(rr.body))
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), rr.service, rr.region, rr.signAt); err != nil {
			t.Fatal(err)
		}
	}
	if rr.mutate != nil {
		rr.mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// errorOf extracts the AWS error code from any of the three formats.
func errorOf(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	if strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		var doc struct {
			Error struct{ Code, Message string }
		}
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("error body is not XML: %v: %s", err, body)
		}
		if doc.Error.Message == "" {
			t.Errorf("error %s has no message", doc.Error.Code)
		}
		return doc.Error.Code
	}
	var doc struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if doc.Message == "" {
		t.Errorf("error %s has no message", doc.Type)
	}
	if h := resp.Header.Get("x-amzn-ErrorType"); h != doc.Type {
		t.Errorf("x-amzn-ErrorType = %q, body __type = %q", h, doc.Type)
	}
	return doc.Type
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	const (
		form    = "application/x-www-form-urlencoded"
		amzJSON = "application/x-amz-json-1.1"
	)
	stsCall := rawRequest{method: "POST", path: "/", contentType: form, body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts", region: region, signAt: now}
	kmsCall := rawRequest{method: "POST", path: "/", contentType: amzJSON, target: "TrentService.DescribeKey", body: `{"KeyId":"k"}`, service: "kms", region: region, signAt: now}
	with := func(r rawRequest, change func(*rawRequest)) rawRequest { change(&r); return r }

	tests := []struct {
		name   string
		req    rawRequest
		status int
		code   string
	}{
		{"sts ok", stsCall, 200, ""},
		{"kms ok", kmsCall, 200, ""},
		{"sts unsigned", with(stsCall, func(r *rawRequest) { r.signAt = time.Time{} }), 403, "MissingAuthenticationToken"},
		{"kms unsigned", with(kmsCall, func(r *rawRequest) { r.signAt = time.Time{} }), 403, "MissingAuthenticationTokenException"},
		{"sts tampered body", with(stsCall, func(r *rawRequest) {
			r.mutate = func(req *http.Request) {
				req.Body = io.NopCloser(strings.NewReader("Action=GetCallerIdentity&Version=2011-06-16"))
			}
		}), 403, "SignatureDoesNotMatch"},
		{"kms tampered target", with(kmsCall, func(r *rawRequest) {
			r.mutate = func(req *http.Request) { req.Header.Set("X-Amz-Target", "TrentService.ListKeys") }
		}), 403, "InvalidSignatureException"},
		{"sts clock 20 minutes behind", with(stsCall, func(r *rawRequest) { r.signAt = now.Add(-20 * time.Minute) }), 400, "RequestExpired"},
		{"kms clock 20 minutes ahead", with(kmsCall, func(r *rawRequest) { r.signAt = now.Add(20 * time.Minute) }), 400, "InvalidSignatureException"},
		{"malformed authorization", with(stsCall, func(r *rawRequest) {
			r.mutate = func(req *http.Request) {
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/sts")
			}
		}), 400, "IncompleteSignature"},
		{"missing date", with(stsCall, func(r *rawRequest) {
			r.mutate = func(req *http.Request) { req.Header.Del("X-Amz-Date") }
		}), 400, "IncompleteSignature"},
		{"region not served", with(stsCall, func(r *rawRequest) { r.region = "mars-north-1" }), 403, "SignatureDoesNotMatch"},
		{"unknown service", with(stsCall, func(r *rawRequest) { r.service = "sqs" }), 400, "UnrecognizedService"},
		{"unknown target", with(kmsCall, func(r *rawRequest) { r.target = "TrentService.FlyToTheMoon" }), 400, "UnknownOperationException"},
		{"target of another service", with(kmsCall, func(r *rawRequest) { r.target = "AWSOrganizationsV20161128.ListAccounts" }), 400, "UnknownOperationException"},
		{"invalid JSON", with(kmsCall, func(r *rawRequest) { r.body = `{"KeyId":` }), 400, "SerializationException"},
		{"wrong JSON type", with(kmsCall, func(r *rawRequest) { r.body = `{"KeyId":5}` }), 400, "SerializationException"},
		{"json wrong content type", with(kmsCall, func(r *rawRequest) { r.contentType = "text/plain" }), 400, "SerializationException"},
		{"unknown action", with(stsCall, func(r *rawRequest) { r.body = "Action=Teleport&Version=2011-06-15" }), 400, "InvalidAction"},
		{"missing action", with(stsCall, func(r *rawRequest) { r.body = "Version=2011-06-15" }), 400, "MissingAction"},
		{"wrong version", with(stsCall, func(r *rawRequest) { r.body = "Action=GetCallerIdentity&Version=2099-01-01" }), 400, "InvalidAction"},
		{"query wrong content type", with(stsCall, func(r *rawRequest) { r.contentType = "application/json" }), 400, "InvalidParameterValue"},
		{"bad form encoding", with(stsCall, func(r *rawRequest) { r.body = "Action=%zz" }), 400, "MalformedQueryString"},
		{"rest unknown route", rawRequest{method: "DELETE", path: "/nowhere", service: "backup", region: region, signAt: now}, 404, "UnknownOperationException"},
		{"oversized body", with(kmsCall, func(r *rawRequest) { r.body = `{"KeyId":"` + strings.Repeat("a", 2<<20) + `"}` }), 413, "RequestEntityTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.req)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
			}
			if tt.code == "" {
				return
			}
			if got := errorOf(t, resp, body); got != tt.code {
				t.Errorf("code = %q, want %q: %s", got, tt.code, body)
			}
		})
	}
}

func TestHealthIsUnauthenticated(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.url + "/_coffer/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"status":"ok"`)) {
		t.Fatalf("health = %d %s", resp.StatusCode, body)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	f := newFixture(t)
	f.do(t, rawRequest{method: "POST", path: "/", contentType: "application/x-www-form-urlencoded", body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts", region: region, signAt: time.Now()})
	resp, err := http.Get(f.url + "/_coffer/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `coffer_requests_total{error_code="",operation="GetCallerIdentity",service="sts",status="200"} 1`
	if !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %s", want)
	}
}
