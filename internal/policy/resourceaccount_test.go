package policy

import "testing"

// aws:ResourceAccount comes from Request.ResourceAccount, or from the
// resource's ARN when the caller does not give the owner (the AWS-managed
// backup role policies compare it with ${aws:PrincipalAccount}).
func TestResourceAccountKey(t *testing.T) {
	// An explicit deny shows whether the condition held, whatever the
	// cross-account rules would decide after it.
	p := MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceAccount":"${aws:PrincipalAccount}"}}}]}`)
	caller := Principal{Type: PrincipalUser, Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/u"}
	tests := []struct {
		name            string
		resource, owner string
		want            bool
	}{
		{"own key, owner from the ARN", "arn:aws:kms:us-east-1:111122223333:key/k", "", true},
		{"own key, owner given", "*", "111122223333", true},
		{"another account's key", "arn:aws:kms:us-east-1:444455556666:key/k", "", false},
		{"owner given wins over the ARN", "arn:aws:kms:us-east-1:111122223333:key/k", "444455556666", false},
		{"no owner at all", "*", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(Request{Principal: caller, Action: "kms:Decrypt", Resource: tt.resource, ResourceAccount: tt.owner}, PolicySet{Identity: []NamedPolicy{{"p", p}}})
			if got := d.Outcome == ExplicitDeny; got != tt.want {
				t.Fatalf("condition held = %v, want %v (%s)", got, tt.want, d)
			}
		})
	}
}
