package identity_test

import (
	"testing"

	"github.com/coffer-dev/coffer/internal/authz"
)

// BenchmarkAuthorize is the cost every operation pays to authorize: the
// caller's subject (account, organization path, policies, tags) from the
// store, and the evaluation.
func BenchmarkAuthorize(b *testing.B) {
	f := newFixture(b)
	az := f.ids.Authorizer()
	req := authz.Request{Action: "kms:Encrypt", Resource: "arn:aws:kms:us-east-1:" + member + ":key/k"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := az.Authorize(f.admin, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticate resolves a long-term access key (a query and an
// AES-GCM open), as every signed request does.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := f.ids.Authenticate(f.admin, "AKIAMEMBER0000000001"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
