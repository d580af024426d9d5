package policy

import (
	"testing"
)

// condHolds evaluates a one-statement identity policy whose Condition
// element is cond against a request with the given context.
func condHolds(t *testing.T, cond string, p Principal, ctx map[string][]string) bool {
	t.Helper()
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"x:Y","Resource":"*","Condition":` + cond + `}]}`
	pol, err := Parse([]byte(doc), ParseOptions{Kind: KindIdentity})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	d := Evaluate(Request{Principal: p, Action: "x:Y", Resource: "*", Context: ctx}, PolicySet{Identity: []NamedPolicy{{Name: "p", Policy: pol}}})
	return d.IsAllowed()
}

type kv = map[string][]string

func TestConditionOperators(t *testing.T) {
	tests := []struct {
		name string // the AWS documentation example, where there is one
		cond string
		ctx  kv
		want bool
	}{
		// reference_policies_elements_condition_operators, String.
		{"String: aws:PrincipalTag/job-category equals iamuser-admin", `{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}`, kv{"aws:PrincipalTag/job-category": {"iamuser-admin"}}, true},
		{"String: tag absent, values do not match", `{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}`, nil, false},
		{"String: values are case-sensitive", `{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}`, kv{"aws:PrincipalTag/job-category": {"IAMUser-Admin"}}, false},
		{"String: keys are case-insensitive", `{"StringEquals":{"aws:principaltag/job-category":"iamuser-admin"}}`, kv{"AWS:PrincipalTag/Job-Category": {"iamuser-admin"}}, true},
		{"String: StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"aws:PrincipalTag/job-category":"IAMUSER-ADMIN"}}`, kv{"aws:PrincipalTag/job-category": {"iamuser-admin"}}, true},
		{"String: StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/job-category":"IAMUSER-ADMIN"}}`, kv{"aws:PrincipalTag/job-category": {"iamuser-admin"}}, false},
		{"String: values of one key are ORed", `{"StringEquals":{"aws:RequestedRegion":["eu-west-1","eu-central-1"]}}`, kv{"aws:RequestedRegion": {"eu-central-1"}}, true},
		{"String: keys of one operator are ANDed", `{"StringEquals":{"aws:RequestedRegion":"eu-west-1","aws:PrincipalTag/team":"dba"}}`, kv{"aws:RequestedRegion": {"eu-west-1"}}, false},
		{"String: operators are ANDed", `{"StringEquals":{"aws:RequestedRegion":"eu-west-1"},"Bool":{"aws:SecureTransport":"true"}}`, kv{"aws:RequestedRegion": {"eu-west-1"}, "aws:SecureTransport": {"true"}}, true},
		// Negated operators: the key absent makes the condition true.
		{"String: StringNotEquals with the key absent is true", `{"StringNotEquals":{"aws:PrincipalTag/team":"dba"}}`, nil, true},
		{"String: StringNotLike with the key absent is true", `{"StringNotLike":{"aws:PrincipalTag/team":"d*"}}`, nil, true},
		{"String: StringNotEquals with another value", `{"StringNotEquals":{"aws:PrincipalTag/team":["dba","ops"]}}`, kv{"aws:PrincipalTag/team": {"dev"}}, true},
		{"String: StringNotEquals is a NOR of the values", `{"StringNotEquals":{"aws:PrincipalTag/team":["dba","ops"]}}`, kv{"aws:PrincipalTag/team": {"ops"}}, false},
		// String wildcards (StringLike); home-folder example of reference_policies_variables.
		{"StringLike: s3:prefix home/${aws:username}/*", `{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}`, kv{"s3:prefix": {"home/bob/docs"}, "aws:username": {"bob"}}, true},
		{"StringLike: another user's folder", `{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}`, kv{"s3:prefix": {"home/alice/"}, "aws:username": {"bob"}}, false},
		{"StringLike: empty prefix matches the empty value", `{"StringLike":{"s3:prefix":["","home/"]}}`, kv{"s3:prefix": {""}}, true},
		{"StringLike: ? matches one character", `{"StringLike":{"ec2:InstanceType":"t?.micro"}}`, kv{"ec2:InstanceType": {"t3.micro"}}, true},
		{"StringLike: is case-sensitive", `{"StringLike":{"ec2:InstanceType":"T*"}}`, kv{"ec2:InstanceType": {"t3.micro"}}, false},
		{"StringEquals: * is literal", `{"StringEquals":{"ec2:InstanceType":"t*"}}`, kv{"ec2:InstanceType": {"t3.micro"}}, false},
		{"StringEquals: unresolved variable matches nothing", `{"StringEquals":{"aws:PrincipalTag/owner":"${aws:PrincipalTag/missing}"}}`, kv{"aws:PrincipalTag/owner": {""}}, false},
		{"StringEquals: variable resolved", `{"StringEquals":{"aws:PrincipalTag/owner":"${aws:username}"}}`, kv{"aws:PrincipalTag/owner": {"bob"}}, true},
		{"StringEquals: variable with default", `{"StringEquals":{"aws:PrincipalTag/owner":"${aws:PrincipalTag/missing, 'nobody'}"}}`, kv{"aws:PrincipalTag/owner": {"nobody"}}, true},
		// Numeric: "NumericLessThanEquals" s3:max-keys 10.
		{"Numeric: s3:max-keys 10 <= 10", `{"NumericLessThanEquals":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"10"}}, true},
		{"Numeric: s3:max-keys 11 <= 10", `{"NumericLessThanEquals":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"11"}}, false},
		{"Numeric: JSON number value", `{"NumericLessThan":{"s3:max-keys":10}}`, kv{"s3:max-keys": {"9.5"}}, true},
		{"Numeric: NumericEquals compares numbers, not text", `{"NumericEquals":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"10.0"}}, true},
		{"Numeric: NumericNotEquals", `{"NumericNotEquals":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"10"}}, false},
		{"Numeric: NumericGreaterThan", `{"NumericGreaterThan":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"11"}}, true},
		{"Numeric: NumericGreaterThanEquals", `{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"9"}}, false},
		{"Numeric: not a number never matches", `{"NumericLessThan":{"s3:max-keys":"10"}}`, kv{"s3:max-keys": {"ten"}}, false},
		// Date: aws:CurrentTime window; aws:TokenIssueTime.
		{"Date: inside the window", `{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}`, kv{"aws:CurrentTime": {"2020-05-05T10:00:00Z"}}, true},
		{"Date: after the window", `{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}`, kv{"aws:CurrentTime": {"2020-07-01T00:00:00Z"}}, false},
		{"Date: epoch seconds in the policy", `{"DateLessThanEquals":{"aws:TokenIssueTime":"1585699200"}}`, kv{"aws:TokenIssueTime": {"2020-04-01T00:00:00Z"}}, true},
		{"Date: date-only value", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2020-04-01"}}`, kv{"aws:CurrentTime": {"2020-04-01T00:00:00Z"}}, true},
		{"Date: DateEquals across time zones", `{"DateEquals":{"aws:CurrentTime":"2020-04-01T02:00:00+02:00"}}`, kv{"aws:CurrentTime": {"2020-04-01T00:00:00Z"}}, true},
		{"Date: DateNotEquals", `{"DateNotEquals":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}`, kv{"aws:CurrentTime": {"2020-04-01T00:00:00Z"}}, false},
		// Bool: aws:SecureTransport.
		{"Bool: aws:SecureTransport true", `{"Bool":{"aws:SecureTransport":"true"}}`, kv{"aws:SecureTransport": {"true"}}, true},
		{"Bool: aws:SecureTransport false", `{"Bool":{"aws:SecureTransport":"true"}}`, kv{"aws:SecureTransport": {"false"}}, false},
		{"Bool: JSON boolean", `{"Bool":{"aws:SecureTransport":true}}`, kv{"aws:SecureTransport": {"TRUE"}}, true},
		{"Bool: key absent", `{"Bool":{"aws:SecureTransport":"false"}}`, nil, false},
		// BinaryEquals.
		{"Binary: BinaryEquals base64", `{"BinaryEquals":{"kms:RecipientAttestation:ImageSha384":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, kv{"kms:RecipientAttestation:ImageSha384": {"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, true},
		{"Binary: different bytes", `{"BinaryEquals":{"kms:RecipientAttestation:ImageSha384":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, kv{"kms:RecipientAttestation:ImageSha384": {"AAAA"}}, false},
		// IP address: 203.0.113.0/24 and 2001:DB8:1234:5678::/64.
		{"IP: inside 203.0.113.0/24", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, kv{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IP: outside 203.0.113.0/24", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, kv{"aws:SourceIp": {"198.51.100.1"}}, false},
		{"IP: IPv6 2001:DB8:1234:5678::/64", `{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}`, kv{"aws:SourceIp": {"2001:db8:1234:5678::1"}}, true},
		{"IP: single address", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, kv{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IP: NotIpAddress outside", `{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}`, kv{"aws:SourceIp": {"198.51.100.1"}}, true},
		{"IP: NotIpAddress inside", `{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}`, kv{"aws:SourceIp": {"192.0.2.9"}}, false},
		{"IP: NotIpAddress with no source IP (a service call) is true", `{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`, nil, true},
		// ARN operators: aws:SourceArn in an SNS topic policy.
		{"Arn: ArnEquals aws:SourceArn", `{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::amzn-s3-demo-bucket"}}`, kv{"aws:SourceArn": {"arn:aws:s3:::amzn-s3-demo-bucket"}}, true},
		{"Arn: ArnLike with wildcards per component", `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}`, kv{"aws:SourceArn": {"arn:aws:cloudtrail:us-east-2:111122223333:trail/main"}}, true},
		{"Arn: a wildcard does not span components", `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:trail/*"}}`, kv{"aws:SourceArn": {"arn:aws:cloudtrail:us-east-2:111122223333:trail/main"}}, false},
		{"Arn: ArnEquals also takes wildcards", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}`, kv{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/Admin"}}, true},
		{"Arn: other account", `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}`, kv{"aws:SourceArn": {"arn:aws:cloudtrail:us-east-2:444455556666:trail/main"}}, false},
		{"Arn: a lone * matches any value", `{"ArnLike":{"aws:SourceArn":"*"}}`, kv{"aws:SourceArn": {"main"}}, true},
		{"Arn: not an ARN does not match a pattern", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, kv{"aws:SourceArn": {"s3:::x"}}, false},
		{"Arn: ArnNotEquals with the key absent is true", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::amzn-s3-demo-bucket"}}`, nil, true},
		{"Arn: ArnNotLike matching", `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Admin*"}}`, kv{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/AdminRole"}}, false},
		// ...IfExists: the ec2:InstanceType example.
		{"IfExists: key absent is true", `{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}`, nil, true},
		{"IfExists: key present and matching", `{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}`, kv{"ec2:InstanceType": {"t2.micro"}}, true},
		{"IfExists: key present and not matching", `{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}`, kv{"ec2:InstanceType": {"m5.large"}}, false},
		{"IfExists: StringNotEqualsIfExists present and equal", `{"StringNotEqualsIfExists":{"aws:RequestedRegion":"eu-west-1"}}`, kv{"aws:RequestedRegion": {"eu-west-1"}}, false},
		// Null: aws:TokenIssueTime identifies temporary credentials.
		{"Null: true when the key is absent", `{"Null":{"aws:TokenIssueTime":"true"}}`, nil, true},
		{"Null: true is false when the key is present", `{"Null":{"aws:TokenIssueTime":"true"}}`, kv{"aws:TokenIssueTime": {"2020-01-01T00:00:00Z"}}, false},
		{"Null: false when the key is present", `{"Null":{"aws:TokenIssueTime":false}}`, kv{"aws:TokenIssueTime": {"2020-01-01T00:00:00Z"}}, true},
		{"Null: an empty value list counts as absent", `{"Null":{"aws:TagKeys":"true"}}`, kv{"aws:TagKeys": {}}, true},
		// reference_policies_condition-single-vs-multi-valued-context-keys.
		{"ForAllValues: every tag key is allowed", `{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}`, kv{"aws:TagKeys": {"environment"}}, true},
		{"ForAllValues: one tag key is not allowed", `{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}`, kv{"aws:TagKeys": {"environment", "owner"}}, false},
		{"ForAllValues: true when the request has no tags", `{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}`, nil, true},
		{"ForAllValues: StringLike Created*", `{"ForAllValues:StringLike":{"aws:TagKeys":"Created*"}}`, kv{"aws:TagKeys": {"CreatedBy", "CreatedAt"}}, true},
		{"ForAllValues: StringNotEquals: none of the request values is listed", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret","admin"]}}`, kv{"aws:TagKeys": {"environment", "owner"}}, true},
		{"ForAllValues: StringNotEquals: one listed value fails it", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret","admin"]}}`, kv{"aws:TagKeys": {"environment", "admin"}}, false},
		{"ForAnyValue: one tag key matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["webserver"]}}`, kv{"aws:TagKeys": {"webserver", "environment"}}, true},
		{"ForAnyValue: no tag key matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["webserver"]}}`, kv{"aws:TagKeys": {"environment"}}, false},
		{"ForAnyValue: false when the request has no tags", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["webserver"]}}`, nil, false},
		{"ForAnyValue: StringNotEquals: one unlisted value suffices", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["environment"]}}`, kv{"aws:TagKeys": {"environment", "owner"}}, true},
		{"ForAnyValue: StringNotEquals: all listed", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["environment","owner"]}}`, kv{"aws:TagKeys": {"environment", "owner"}}, false},
		{"ForAnyValue: StringNotEquals: false when absent", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["environment"]}}`, nil, false},
		{"ForAnyValue: aws:CalledVia contains athena", `{"ForAnyValue:StringEquals":{"aws:CalledVia":["athena.amazonaws.com"]}}`, kv{"aws:CalledVia": {"athena.amazonaws.com", "s3.amazonaws.com"}}, true},
		{"No set operator on a multivalued key: any value matches", `{"StringEquals":{"aws:CalledVia":"athena.amazonaws.com"}}`, kv{"aws:CalledVia": {"s3.amazonaws.com", "athena.amazonaws.com"}}, true},
		{"No set operator, negated, multivalued: NOR", `{"StringNotEquals":{"aws:CalledVia":"athena.amazonaws.com"}}`, kv{"aws:CalledVia": {"s3.amazonaws.com", "athena.amazonaws.com"}}, false},
		// Service keys: KMS.
		{"kms:ViaService for a service", `{"StringEquals":{"kms:ViaService":["ec2.us-west-2.amazonaws.com","rds.us-west-2.amazonaws.com"]}}`, kv{"kms:ViaService": {"rds.us-west-2.amazonaws.com"}}, true},
		{"kms:ViaService direct call", `{"StringEquals":{"kms:ViaService":["ec2.us-west-2.amazonaws.com","rds.us-west-2.amazonaws.com"]}}`, nil, false},
		{"kms:CallerAccount", `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, kv{"kms:CallerAccount": {"111122223333"}}, true},
		{"kms:EncryptionContext:Department", `{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}`, kv{"kms:encryptioncontext:department": {"IT"}}, true},
		{"kms:EncryptionContextKeys ForAllValues", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]}}`, kv{"kms:EncryptionContextKeys": {"Project"}}, true},
		{"kms:GrantIsForAWSResource", `{"Bool":{"kms:GrantIsForAWSResource":true}}`, kv{"kms:GrantIsForAWSResource": {"true"}}, true},
		{"backup:CopyTargets ForAllValues:ArnEquals", `{"ForAllValues:ArnEquals":{"backup:CopyTargets":["arn:aws:backup:us-east-1:666777888999:backup-vault:*"]}}`, kv{"backup:CopyTargets": {"arn:aws:backup:us-east-1:666777888999:backup-vault:BackupVault"}}, true},
		{"backup:CopyTargets to another account", `{"ForAllValues:ArnEquals":{"backup:CopyTargets":["arn:aws:backup:us-east-1:666777888999:backup-vault:*"]}}`, kv{"backup:CopyTargets": {"arn:aws:backup:us-east-1:999988887777:backup-vault:X"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := condHolds(t, tt.cond, bob, tt.ctx); got != tt.want {
				t.Errorf("condition %s with %v = %v, want %v", tt.cond, tt.ctx, got, tt.want)
			}
		})
	}
}

func TestMatchARN(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "anything", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket2/a", false},
		{"arn:aws:iam::*:role/*", "arn:aws:iam::111122223333:role/x", true},
		{"arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:key/1234", true},
		{"arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:alias/x", false},
		{"arn:aws:s3:::*log*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs", true},
		{"arn:aws:s3:::*log*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar", false},
		{"arn:aws:logs:us-east-1:111122223333:log-group:g:*", "arn:aws:logs:us-east-1:111122223333:log-group:g:log-stream:s", true},
		{"arn:aws:backup:us-east-1:111122223333:backup-vault:?ault", "arn:aws:backup:us-east-1:111122223333:backup-vault:Vault", true},
		{"arn:aws:backup:*", "arn:aws:backup:us-east-1:111122223333:backup-vault:Vault", true},
		{"arn:aws:S3:::b", "arn:aws:s3:::b", false},
		{"arn:aws:s3:::a*b*c", "arn:aws:s3:::axxbyyc", true},
		{"arn:aws:s3:::a*b*c", "arn:aws:s3:::axxbyy", false},
	}
	for _, tt := range tests {
		if got := matchARN(globPattern(tt.pat), tt.s, true); got != tt.want {
			t.Errorf("matchARN(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

func TestActionsCaseInsensitive(t *testing.T) {
	p := mustKind(t, KindIdentity, "p", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["KMS:De*","backup:Get?ackupVaultAccessPolicy"],"Resource":"*"}]}`)
	for action, want := range map[string]bool{
		"kms:Decrypt":                        true,
		"kms:DescribeKey":                    true,
		"kms:Encrypt":                        false,
		"BACKUP:GETBACKUPVAULTACCESSPOLICY":  true,
		"backup:GetBackupVaultNotifications": false,
	} {
		d := Evaluate(Request{Principal: bob, Action: action, Resource: "*"}, PolicySet{Identity: []NamedPolicy{p}})
		if d.IsAllowed() != want {
			t.Errorf("%s: allowed = %v, want %v", action, d.IsAllowed(), want)
		}
	}
}
