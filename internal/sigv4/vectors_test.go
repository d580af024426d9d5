package sigv4

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAWSSuiteVectors verifies requests from AWS's published SigV4 test
// suite (aws-sig-v4-test-suite, credentials AKIDEXAMPLE, 20150830T123600Z,
// us-east-1, service "service"). Each request is read off the wire exactly
// as the suite writes it, with the suite's Authorization header added.
//
// The suite's get-space and get-utf8 cases send an unencoded path
// ("/example space/"), which is not a valid HTTP request line and signs a
// singly encoded canonical URI; real non-S3 clients send the encoded path and
// sign it encoded twice (see TestVerifySDKSigned), so those two are left out.
func TestAWSSuiteVectors(t *testing.T) {
	const (
		suiteKeyID  = "AKIDEXAMPLE"
		suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
		authzPrefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	)
	tests := []struct {
		name          string
		request       string // request line and headers, without Authorization
		body          string
		signedHeaders string
		signature     string
	}{
		{"get-vanilla",
			"GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query",
			"GET /? HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case",
			"GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"get-unreserved",
			"GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
		{"get-header-value-trim",
			"GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z\n", "",
			"host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
		{"post-vanilla",
			"POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"post-vanilla-query",
			"POST /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
		{"post-x-www-form-urlencoded",
			"POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nContent-Length:13\n",
			"Param1=value1",
			"content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
		// normalize-path cases: botocore signs the normalized path.
		{"get-slashes",
			"GET //example// HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
		{"get-relative",
			"GET /example/.. HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-slash-pointless-dot",
			"GET /./example HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n", "",
			"host;x-amz-date", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
	}
	v := &Verifier{
		Lookup: memLookup{suiteKeyID: {AccessKeyID: suiteKeyID, SecretAccessKey: suiteSecret}},
		Now:    func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) },
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			authz := authzPrefix + "SignedHeaders=" + tc.signedHeaders + ", Signature=" + tc.signature
			raw := strings.ReplaceAll(tc.request, "\n", "\r\n") + "Authorization: " + authz + "\r\n\r\n" + tc.body
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Fatalf("read request: %v", err)
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			res, err := v.Verify(context.Background(), r, body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Scope{AccessKeyID: suiteKeyID, Date: "20150830", Region: "us-east-1", Service: "service"}
			if res.Scope != want {
				t.Errorf("scope = %+v, want %+v", res.Scope, want)
			}

			// One flipped hex digit must fail.
			flipped := tc.signature[:63] + string("10"[tc.signature[63]&1])
			r.Header.Set("Authorization", authzPrefix+"SignedHeaders="+tc.signedHeaders+", Signature="+flipped)
			if _, err := v.Verify(context.Background(), r, body); errCode(err) != SignatureDoesNotMatch {
				t.Errorf("flipped signature: err = %v, want %s", err, SignatureDoesNotMatch)
			}
		})
	}
}
