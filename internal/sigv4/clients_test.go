package sigv4

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// authServer verifies every request with v and answers with a minimal
// successful response for the signing service, or 403 with the error code.
type authServer struct {
	v *Verifier

	mu    sync.Mutex
	paths []string // raw request targets seen
	errs  []error
}

func (s *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	res, err := s.v.Verify(r.Context(), r, body)
	s.mu.Lock()
	s.paths = append(s.paths, r.RequestURI)
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	if err != nil {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"__type":"UnrecognizedClientException","message":"auth"}`)
		return
	}
	switch res.Scope.Service {
	case "sts":
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<Arn>arn:aws:iam::111122223333:user/alice</Arn><UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account>`+
			`</GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case "kms":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"Keys":[],"Truncated":false}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}
}

// TestRealClients drives the verifier with the aws-sdk-go-v2 service clients
// (their whole middleware stack, not just the signer) over loopback HTTP.
func TestRealClients(t *testing.T) {
	// Real clock: the SDK signs with time.Now. tempCreds in testKeys expire
	// an hour after t0, long ago for that clock, so use an open-ended copy.
	lookup := memLookup{
		testKeyID: testKeys[testKeyID],
		tempKeyID: {AccessKeyID: tempKeyID, SecretAccessKey: tempSecret, SessionToken: tempToken},
	}
	// Strict, as coffer verifies its JSON and query services: what the
	// SDK signs must pass it.
	as := &authServer{v: &Verifier{Lookup: lookup, Strict: true}}
	srv := httptest.NewServer(as)
	defer srv.Close()

	for _, c := range []struct {
		name  string
		creds aws.Credentials
	}{{"long-term key", permCreds}, {"temporary credentials", tempCreds}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := aws.Config{
				Region:           "eu-west-3",
				Credentials:      credentials.NewStaticCredentialsProvider(c.creds.AccessKeyID, c.creds.SecretAccessKey, c.creds.SessionToken),
				HTTPClient:       srv.Client(),
				BaseEndpoint:     aws.String(srv.URL),
				RetryMaxAttempts: 1,
			}
			ctx := context.Background()

			if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				t.Errorf("sts GetCallerIdentity: %v", err)
			}
			if _, err := kms.NewFromConfig(cfg).ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(10), Marker: aws.String("a/b c+d")}); err != nil {
				t.Errorf("kms ListKeys: %v", err)
			}
			arn := "arn:aws:backup:eu-west-3:111122223333:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"
			if _, err := backup.NewFromConfig(cfg).DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{
				BackupVaultName: aws.String("my vault"), RecoveryPointArn: aws.String(arn), BackupVaultAccountId: aws.String("111122223333"),
			}); err != nil {
				t.Errorf("backup DescribeRecoveryPoint: %v", err)
			}

			ps, err := sts.NewPresignClient(sts.NewFromConfig(cfg)).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("presign: %v", err)
			}
			req, err := http.NewRequest(ps.Method, ps.URL, nil)
			if err != nil {
				t.Fatalf("presigned request: %v", err)
			}
			for k, v := range ps.SignedHeader {
				if k != "Host" {
					req.Header[k] = v
				}
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("presigned GET: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("presigned GET: status %d", resp.StatusCode)
			}
		})
	}

	as.mu.Lock()
	defer as.mu.Unlock()
	if got, want := len(as.paths), 8; got != want {
		t.Errorf("server saw %d requests, want %d", got, want)
	}
	for i, err := range as.errs {
		if err != nil {
			t.Errorf("request %s: %v", as.paths[i], err)
		}
	}
	sawARN := false
	for _, p := range as.paths {
		sawARN = sawARN || strings.Contains(p, "/recovery-points/arn%3Aaws%3Abackup%3Aeu-west-3%3A111122223333%3Arecovery-point%3A")
	}
	if !sawARN {
		t.Errorf("no request carried the percent-encoded ARN path; saw %q", as.paths)
	}
}
