package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		doc  string
	}{
		{"single statement object", KindIdentity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`},
		{"statement array, lists", KindIdentity, `{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"A1","Effect":"Deny","NotAction":["iam:*","kms:Create*"],"NotResource":["arn:aws:kms:*:111122223333:key/*"]}]}`},
		{"legacy version", KindIdentity, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`},
		{"no version", KindIdentity, `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`},
		// KMS "default key policy": a Sid with spaces is fine in a resource policy.
		{"kms default key policy", KindResource, `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`},
		{"trust policy for a service", KindTrust, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}`},
		{"principal account id and session", KindResource, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:sts::111122223333:assumed-role/R/s"]},"Action":"backup:CopyIntoBackupVault","Resource":"*"}]}`},
		{"condition values of every JSON type", KindIdentity, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericLessThanEquals":{"s3:max-keys":10},"Bool":{"aws:MultiFactorAuthPresent":true},"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},"Null":{"aws:TokenIssueTime":"false"}}}]}`},
		{"set operators and IfExists", KindIdentity, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]},"ForAnyValue:StringLikeIfExists":{"aws:CalledVia":"*"}}}]}`},
		{"variable in condition value of a numeric operator", KindIdentity, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"${aws:PrincipalTag/max}"}}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.doc), ParseOptions{Kind: tt.kind}); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		max  int
		doc  string
		want string // substring of the message
	}{
		{"not JSON", KindAny, 0, `{"Statement":`, "Syntax errors in policy."},
		{"empty", KindAny, 0, `  `, "Policy document is empty"},
		{"array at top", KindAny, 0, `[]`, "Syntax errors in policy."},
		{"bad version", KindAny, 0, `{"Version":"2012-10-18","Statement":[]}`, "Policy has invalid Version: 2012-10-18"},
		{"no statement", KindAny, 0, `{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{"unknown top field", KindAny, 0, `{"Version":"2012-10-17","Statement":[],"Foo":1}`, "unknown field Foo"},
		{"missing effect", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Action":"s3:*","Resource":"*"}]}`, "Missing required field Effect"},
		{"bad effect", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Alow","Action":"s3:*","Resource":"*"}]}`, "Invalid effect: Alow"},
		{"lower-case field", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"effect":"Allow","Action":"s3:*","Resource":"*"}]}`, "unknown field effect"},
		{"no action", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}`, "Policy statement must contain actions."},
		{"action without vendor", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]}`, "must be prefaced by a vendor"},
		{"action and notaction", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}]}`, "both Action and NotAction"},
		{"no resource in identity policy", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}`, "Policy statement must contain resources."},
		{"resource not an ARN", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}`, `Resource bucket must be in ARN format or "*".`},
		{"principal in identity policy", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`, "Policy document should not specify a principal."},
		{"no principal in resource policy", KindResource, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, "Missing required field Principal"},
		{"bad AWS principal", KindResource, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"foo"},"Action":"kms:*","Resource":"*"}]}`, `Invalid principal in policy: "AWS":"foo"`},
		{"wildcard in principal ARN", KindResource, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}]}`, `Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*"`},
		{"principal string not star", KindResource, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"111122223333","Action":"kms:*","Resource":"*"}]}`, `Invalid principal in policy: "111122223333"`},
		{"unknown principal type", KindResource, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Group":"x"},"Action":"kms:*","Resource":"*"}]}`, `Invalid principal in policy: "Group":"x"`},
		{"federated unsupported", KindTrust, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, `Unsupported principal type in policy: "Federated"`},
		{"resource in trust policy", KindTrust, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}]}`, "Has prohibited field Resource"},
		{"non-sts action in trust policy", KindTrust, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:GetObject"}]}`, "AssumeRole policy may only specify STS AssumeRole actions."},
		{"bad operator", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"bob"}}}]}`, "Policy has invalid condition operator: StringEqualz"},
		{"bad set operator", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"aws:TagKeys":"a"}}}]}`, "Policy has invalid condition operator: ForSomeValues:StringEquals"},
		{"NullIfExists", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}]}`, "invalid condition operator: NullIfExists"},
		{"key without vendor", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"username":"bob"}}}]}`, "invalid condition key"},
		{"bad CIDR", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.2.3/8"}}}]}`, "Invalid value \"300.1.2.3/8\" for condition operator IpAddress"},
		{"bad date", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"yesterday"}}}]}`, "not an ISO 8601 date"},
		{"object as condition value", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:username":{"a":"b"}}}}]}`, "Invalid value for condition key aws:username"},
		{"duplicate sid", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}`, "must be unique"},
		{"sid with spaces in IAM", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Sid":"Allow all","Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, "alpha-numeric"},
		{"empty action list", KindIdentity, 0, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}`, "Action must not be an empty array"},
		{"too large", KindIdentity, 40, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, "Policy document length breaks maximum length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), ParseOptions{Kind: tt.kind, MaxSize: tt.max})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error = %v, want a *ValidationError", err)
			}
			if !strings.Contains(ve.Message, tt.want) {
				t.Errorf("message = %q, want it to contain %q", ve.Message, tt.want)
			}
		})
	}
}

func TestParseSizeIgnoresWhitespace(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	n := len(doc)
	spaced := strings.ReplaceAll(doc, ",", " ,\n\t ")
	if _, err := Parse([]byte(spaced), ParseOptions{MaxSize: n}); err != nil {
		t.Fatalf("IAM-style limit counts whitespace: %v", err)
	}
	_, err := Parse([]byte(spaced), ParseOptions{MaxSize: n, CountWhitespace: true})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("KMS-style limit: err = %v, want ErrTooLarge", err)
	}
	if _, err := Parse([]byte(doc), ParseOptions{MaxSize: n - 1}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one over: err = %v, want ErrTooLarge", err)
	}
}

func TestPrincipalARNs(t *testing.T) {
	p, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":["444455556666","arn:aws:iam::111122223333:role/R"],"Service":"backup.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"},
		{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::111122223333:user/bob"]},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":"*","Action":"kms:Describe*","Resource":"*"}]}`), ParseOptions{Kind: KindResource})
	if err != nil {
		t.Fatal(err)
	}
	got := p.PrincipalARNs()
	want := []string{"arn:aws:iam::111122223333:role/R", "arn:aws:iam::111122223333:user/bob", "arn:aws:iam::444455556666:root"}
	if !slices.Equal(got, want) {
		t.Errorf("PrincipalARNs = %q, want %q", got, want)
	}
	if got := p.ServicePrincipals(); !slices.Equal(got, []string{"backup.amazonaws.com"}) {
		t.Errorf("ServicePrincipals = %q", got)
	}
}
