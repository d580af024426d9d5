package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestErrorShapesAsModeled checks that error bodies carry the members
// their shapes define in the AWS models, so that SDKs fill the typed
// error's fields: Backup's Message and Code (not "message"), and
// Organizations' Message. The Go SDK matches member names without
// regard to case, so the bodies themselves are checked too: other SDKs
// (aws-sdk-js v3) do not.
func TestErrorShapesAsModeled(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	rec := func(creds aws.Credentials) (aws.Config, *recorder) {
		cfg := c.AWSConfig(t, creds)
		r := &recorder{next: cfg.HTTPClient}
		cfg.HTTPClient = r
		return cfg, r
	}
	wantMembers := func(r *recorder, want ...string) {
		t.Helper()
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("error body %q: %v", r.body, err)
		}
		for _, m := range want {
			if s, _ := body[m].(string); s == "" {
				t.Errorf("error body %s lacks member %q", r.body, m)
			}
		}
		if _, ok := body["message"]; ok {
			t.Errorf("error body %s has \"message\", which its shape does not define", r.body)
		}
	}

	cfg, r := rec(c.Profile(t, "source"))
	b := backup.NewFromConfig(cfg)
	_, err := b.DescribeBackupVault(ctx, &backup.DescribeBackupVaultInput{BackupVaultName: aws.String("no-such-vault")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("DescribeBackupVault err = %v, want ResourceNotFoundException", err)
	}
	if rnf.Message == nil || !strings.Contains(*rnf.Message, "no-such-vault") {
		t.Errorf("ResourceNotFoundException.Message = %v, want the message naming the vault", rnf.Message)
	}
	if aws.ToString(rnf.Code) != "ResourceNotFoundException" {
		t.Errorf("ResourceNotFoundException.Code = %v", rnf.Code)
	}
	wantMembers(r, "Message", "Code")

	cfg, r = rec(c.Profile(t, "default"))
	o := organizations.NewFromConfig(cfg)
	_, err = o.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("000000000000")})
	var anf *orgtypes.AccountNotFoundException
	if !errors.As(err, &anf) {
		t.Fatalf("DescribeAccount err = %v, want AccountNotFoundException", err)
	}
	if anf.Message == nil || *anf.Message == "" {
		t.Errorf("AccountNotFoundException.Message = %v, want the message", anf.Message)
	}
	wantMembers(r, "Message")
}

// recorder keeps the body of the last response.
type recorder struct {
	next aws.HTTPClient
	body []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if r.body, err = io.ReadAll(resp.Body); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(r.body))
	return resp, nil
}
