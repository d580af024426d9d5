package app_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// shebang is the interpreter a script starts with.
func shebang(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "#!") {
		testenv.Missing(t, "%s does not start with #!: %v", path, err)
	}
	return strings.Fields(strings.TrimPrefix(line, "#!"))[0]
}

// botocorePresign is the URL botocore's presigner (the one the AWS CLI v2
// runs on) makes for an operation without parameters.
const botocorePresign = `
import sys
from awscli.botocore.session import Session
service, op, endpoint, key, secret = sys.argv[1:]
c = Session().create_client(service, region_name='us-east-1', endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret)
print(c.generate_presigned_url(op, ExpiresIn=300))
`

// What botocore's presigner makes for the JSON and query services is
// accepted (POST, the operation's method, with the headers it signed and
// no body), and a presigned KMS URL signed over host only with
// UNSIGNED-PAYLOAD, or a request whose X-Amz-Target is not signed, is
// refused: the operation and body cannot be chosen after signing.
func TestPresignedAndSignedHeaders(t *testing.T) {
	cli := testenv.AWSCLIv2(t)
	python := shebang(t, cli)
	c := testenv.StartCoffer(t, nil)
	creds := c.Profile(t, "default")
	send := func(t *testing.T, method, url string, header map[string]string, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	jsonHeaders := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}

	for _, tc := range []struct {
		service, op string
		header      map[string]string
		want        string
	}{
		{"sts", "get_caller_identity", nil, "<Arn>arn:aws:iam::"},
		{"kms", "list_keys", jsonHeaders, `"Keys"`},
	} {
		t.Run("botocore "+tc.service, func(t *testing.T) {
			out, err := exec.Command(python, "-c", botocorePresign, tc.service, tc.op, c.URL, creds.AccessKeyID, creds.SecretAccessKey).CombinedOutput()
			if err != nil {
				testenv.Missing(t, "botocore presigner: %v\n%s", err, out)
			}
			status, body := send(t, "POST", strings.TrimSpace(string(out)), tc.header, "")
			if status != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("presigned %s: %d %s", tc.op, status, body)
			}
		})
	}

	signer := v4.NewSigner()
	ctx := context.Background()
	t.Run("presigned over host only with UNSIGNED-PAYLOAD", func(t *testing.T) {
		req, err := http.NewRequest("POST", c.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		url, _, err := signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "kms", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		status, body := send(t, "POST", url, jsonHeaders, "{}")
		if status != 400 || !strings.Contains(body, "IncompleteSignature") {
			t.Fatalf("answer %d %s, want 400 IncompleteSignature", status, body)
		}
	})
	t.Run("X-Amz-Target not signed", func(t *testing.T) {
		req, err := http.NewRequest("POST", c.URL+"/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		sum := sha256.Sum256([]byte("{}"))
		if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "x-amz-target") {
			t.Fatalf("answer %d %s, want 400 naming x-amz-target", resp.StatusCode, b)
		}
	})
}
