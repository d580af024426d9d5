package policy

import (
	"testing"
	"time"
)

// Accounts and principals of the examples. AWS's documentation uses
// 111122223333 and 444455556666 for two accounts; the seed's accounts are
// 111222333444 (source) and 666777888999 (backup).
const (
	acctA = "111122223333"
	acctB = "444455556666"
)

var (
	carlos    = Principal{Type: PrincipalUser, Account: acctA, ARN: "arn:aws:iam::111122223333:user/carlossalazar"}
	bob       = Principal{Type: PrincipalUser, Account: acctA, ARN: "arn:aws:iam::111122223333:user/bob"}
	rootA     = Principal{Type: PrincipalAccount, Account: acctA, ARN: "arn:aws:iam::111122223333:root"}
	userB     = Principal{Type: PrincipalUser, Account: acctB, ARN: "arn:aws:iam::444455556666:user/ExampleUser"}
	rootB     = Principal{Type: PrincipalAccount, Account: acctB, ARN: "arn:aws:iam::444455556666:root"}
	auditB    = Principal{Type: PrincipalAssumedRole, Account: acctB, ARN: "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app", RoleARN: "arn:aws:iam::444455556666:role/cross-account-read-only-role"}
	otherSess = Principal{Type: PrincipalAssumedRole, Account: acctB, ARN: "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/other-app", RoleARN: "arn:aws:iam::444455556666:role/cross-account-read-only-role"}
	backupSvc = Principal{Type: PrincipalService, Service: "backup.amazonaws.com"}
	anonymous = Principal{}

	// The seed's backup account role copying into its vault, and a role of
	// an account of another organization.
	copyRole = Principal{Type: PrincipalAssumedRole, Account: "111222333444", ARN: "arn:aws:sts::111222333444:assumed-role/AWSBackupDefaultServiceRole/copy-job-1",
		RoleARN: "arn:aws:iam::111222333444:role/service-role/AWSBackupDefaultServiceRole", OrgID: "o-a1b2c3d4e5",
		OrgPaths: []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"}}
	strangerRole = Principal{Type: PrincipalAssumedRole, Account: "999988887777", ARN: "arn:aws:sts::999988887777:assumed-role/Admin/s",
		RoleARN: "arn:aws:iam::999988887777:role/Admin", OrgID: "o-zzzzzzzzzz"}
)

func mustKind(t *testing.T, kind Kind, name, doc string) NamedPolicy {
	t.Helper()
	p, err := Parse([]byte(doc), ParseOptions{Kind: kind})
	if err != nil {
		t.Fatalf("Parse %s: %v", name, err)
	}
	return NamedPolicy{Name: name, Policy: p}
}

// Policies of the examples, built from AWS documentation pages named in
// each case.
const (
	// reference_policies_evaluation-logic_policy-eval-basics: the policy
	// attached to carlossalazar.
	carlosIdentity = `{"Version":"2012-10-17","Statement":[
		{"Sid":"AllowS3ListRead","Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListAllMyBuckets"],"Resource":"arn:aws:s3:::*"},
		{"Sid":"AllowS3Self","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*","arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
		{"Sid":"DenyS3Logs","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*log*"}]}`
	// ... and the bucket policy of amzn-s3-demo-bucket-carlossalazar-logs.
	carlosLogsBucket = `{"Version":"2012-10-17","Statement":[
		{"Sid":"AllowCarlosPutLogs","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/carlossalazar"},"Action":"s3:*","Resource":"arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"}]}`

	// kms key-policy-default: "Allows access to the AWS account and enables IAM policies".
	kmsDefaultKeyPolicy = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	// kms key-policy-modifying-external-accounts: the key policy gives
	// account 444455556666 use of the key.
	kmsExternalKeyPolicy = `{"Version":"2012-10-17","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},
		 "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}`
	// ... and the IAM policy in the external account that the external
	// account must attach too.
	kmsExternalIAM = `{"Version":"2012-10-17","Statement":[
		{"Sid":"AllowUseOfKeyInAccount111122223333","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
		 "Resource":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}`
	// kms key-policy-default-allow-users: a key policy that names a user
	// and no account: IAM policies do not matter.
	kmsUserOnlyKeyPolicy = `{"Version":"2012-10-17","Statement":[
		{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`

	kmsKey = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

	// aws-backup create-a-vault-access-policy / the seed: allow copies
	// into the vault from any account of the organization.
	vaultOrgPolicy = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"backup:CopyIntoBackupVault","Resource":"*","Principal":"*",
		 "Condition":{"StringEquals":{"aws:PrincipalOrgID":["o-a1b2c3d4e5"]}}}]}`
	// aws-backup create-a-vault-access-policy: allow from an OU, with
	// ForAnyValue:StringLike on aws:PrincipalOrgPaths.
	vaultOUPolicy = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"backup:CopyIntoBackupVault","Resource":"*","Principal":"*",
		 "Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"]}}}]}`
	vaultArn = "arn:aws:backup:us-east-1:666777888999:backup-vault:BackupVault"
	// The copying role's own IAM policy (AWSBackupServiceRolePolicyForBackup has the equivalent).
	copyIAM = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"backup:CopyIntoBackupVault","Resource":"*"}]}`

	// reference_policies_elements_notprincipal: "Specifying NotPrincipal
	// with Deny": everyone but the audit session is denied.
	notPrincipalBucket = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny",
		"NotPrincipal":{"AWS":["arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
		                       "arn:aws:iam::444455556666:role/cross-account-read-only-role","arn:aws:iam::444455556666:root"]},
		"Action":"s3:*","Resource":["arn:aws:s3:::amzn-s3-demo-bucket","arn:aws:s3:::amzn-s3-demo-bucket/*"]},
		{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::amzn-s3-demo-bucket/*"}]}`
	// The same, listing only the role: AWS says the session is then denied.
	notPrincipalRoleOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny",
		"NotPrincipal":{"AWS":["arn:aws:iam::444455556666:role/cross-account-read-only-role","arn:aws:iam::444455556666:root"]},
		"Action":"s3:*","Resource":["arn:aws:s3:::amzn-s3-demo-bucket","arn:aws:s3:::amzn-s3-demo-bucket/*"]},
		{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::amzn-s3-demo-bucket/*"}]}`
	readAnyS3 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}`

	// reference_policies_elements_notaction: allow everything except IAM.
	notActionAllow = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`
	// reference_policies_elements_notaction: deny everything but IAM
	// without MFA ("DenyAllUsersNotUsingMFA").
	notActionDenyNoMFA = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Sid":"DenyAllUsersNotUsingMFA","Effect":"Deny","NotAction":"iam:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`
	// reference_policies_elements_notresource: deny everything outside one bucket.
	notResourceDeny = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"*"},
		{"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::HRBucket/Payroll","arn:aws:s3:::HRBucket/Payroll/*"]}]}`

	// reference_policies_variables: each user's home folder.
	homeFolder = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
		"Resource":"arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}]}`
	homeFolderLegacy = `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
		"Resource":"arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}]}`
	// reference_policies_variables: principal tags in the resource.
	teamFolder = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",
		"Resource":"arn:aws:s3:::amzn-s3-demo-bucket/${aws:PrincipalTag/team, 'company-wide'}/*"}]}`
	// reference_policies_variables "Special characters": ${*} is a literal '*'.
	starFolder = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::amzn-s3-demo-bucket/${*}/${aws:username}"}]}`

	// access_policies_boundaries: the boundary allows only S3, CloudWatch and EC2.
	boundary = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","cloudwatch:*","ec2:*"],"Resource":"*"}]}`
	adminIAM = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	// access_policies_boundaries: a resource policy naming the user.
	iamUserResourcePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]}`

	// orgs_manage_policies_scps_examples: FullAWSAccess and "Deny access
	// to AWS based on the requested AWS Region".
	scpFull   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	scpRegion = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAllOutsideEU","Effect":"Deny",
		"NotAction":["iam:*","organizations:*","sts:*"],"Resource":"*",
		"Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-central-1","eu-west-1"]}}}]}`
	scpOnlyBackup = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["backup:*","kms:*"],"Resource":"*"}]}`

	// id_roles_create_for-service: the trust policy of a service role.
	backupTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	// id_roles_common-scenarios_aws-accounts: a role trusting another account.
	crossTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole",
		"Condition":{"StringEquals":{"sts:ExternalId":"Unique ID Assigned by Example Corp"}}}]}`
	assumeAny = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/*"}]}`
	roleArn   = "arn:aws:iam::111122223333:role/UpdateApp"

	// A public-read style resource policy with Principal "*".
	publicRead = `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::amzn-s3-demo-bucket/*"}]}`
	// A resource policy denying one account everything.
	denyAccountA = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyA","Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}]}`
)

func TestEvaluateDocExamples(t *testing.T) {
	type pol struct{ name, doc string }
	tests := []struct {
		name     string // the AWS documentation example
		req      Request
		identity []pol
		resource []pol
		guards   []struct {
			typ  PolicyType
			pols []pol
		}
		kms     bool
		want    Outcome
		wantTyp PolicyType
		wantMsg string
	}{
		{
			name:     "policy-eval-basics: AllowS3Self lets carlossalazar write to his bucket",
			req:      Request{Principal: carlos, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/f.txt", ResourceAccount: acctA},
			identity: []pol{{"carlos", carlosIdentity}},
			want:     Allowed,
		},
		{
			name:     "policy-eval-basics: DenyS3Logs overrides the logs bucket policy that allows him",
			req:      Request{Principal: carlos, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/f.txt", ResourceAccount: acctA},
			identity: []pol{{"carlos", carlosIdentity}},
			resource: []pol{{"bucket", carlosLogsBucket}},
			want:     ExplicitDeny, wantTyp: IdentityBased,
			wantMsg: "User: arn:aws:iam::111122223333:user/carlossalazar is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/f.txt with an explicit deny in an identity-based policy",
		},
		{
			name:     "policy-eval-basics: same account, a resource policy naming the user suffices",
			req:      Request{Principal: carlos, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/f.txt", ResourceAccount: acctA},
			resource: []pol{{"bucket", carlosLogsBucket}},
			want:     Allowed,
		},
		{
			name:     "policy-eval-basics: same account, nothing allows",
			req:      Request{Principal: carlos, Action: "s3:DeleteBucket", Resource: "arn:aws:s3:::other", ResourceAccount: acctA},
			identity: []pol{{"carlos", carlosIdentity}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
			wantMsg: "User: arn:aws:iam::111122223333:user/carlossalazar is not authorized to perform: s3:DeleteBucket on resource: arn:aws:s3:::other because no identity-based policy allows the s3:DeleteBucket action",
		},
		{
			name:     "key-policy-default: the default key policy delegates to IAM, and IAM allows",
			req:      Request{Principal: bob, Action: "kms:Decrypt", Resource: kmsKey},
			identity: []pol{{"bob-kms", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`}},
			resource: []pol{{"key-policy", kmsDefaultKeyPolicy}},
			kms:      true, want: Allowed,
		},
		{
			name:     "key-policy-default: the default key policy alone gives a user nothing",
			req:      Request{Principal: bob, Action: "kms:Decrypt", Resource: kmsKey},
			resource: []pol{{"key-policy", kmsDefaultKeyPolicy}},
			kms:      true, want: ImplicitDeny, wantTyp: IdentityBased,
			wantMsg: "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Decrypt on resource: " + kmsKey + " because no identity-based policy allows the kms:Decrypt action",
		},
		{
			name:     "key-policy-default: without the root statement, an IAM policy is not enough",
			req:      Request{Principal: carlos, Action: "kms:Decrypt", Resource: kmsKey},
			identity: []pol{{"admin", adminIAM}},
			resource: []pol{{"key-policy", kmsUserOnlyKeyPolicy}},
			kms:      true, want: ImplicitDeny, wantTyp: ResourceBased,
			wantMsg: "User: arn:aws:iam::111122223333:user/carlossalazar is not authorized to perform: kms:Decrypt on resource: " + kmsKey + " because no resource-based policy allows the kms:Decrypt action",
		},
		{
			name:     "key-policy-default-allow-users: a key policy naming the user needs no IAM policy",
			req:      Request{Principal: bob, Action: "kms:Decrypt", Resource: kmsKey},
			resource: []pol{{"key-policy", kmsUserOnlyKeyPolicy}},
			kms:      true, want: Allowed,
		},
		{
			name:     "key-policy-default: the account root user needs the key policy too",
			req:      Request{Principal: rootA, Action: "kms:ScheduleKeyDeletion", Resource: kmsKey},
			resource: []pol{{"key-policy", kmsUserOnlyKeyPolicy}},
			kms:      true, want: ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "key-policy-default: the account root user with the default key policy",
			req:      Request{Principal: rootA, Action: "kms:ScheduleKeyDeletion", Resource: kmsKey},
			resource: []pol{{"key-policy", kmsDefaultKeyPolicy}},
			kms:      true, want: Allowed,
		},
		{
			name:     "key-policy-modifying-external-accounts: key policy and external IAM policy",
			req:      Request{Principal: userB, Action: "kms:Decrypt", Resource: kmsKey},
			identity: []pol{{"external", kmsExternalIAM}},
			resource: []pol{{"key-policy", kmsExternalKeyPolicy}},
			kms:      true, want: Allowed,
		},
		{
			name:     "key-policy-modifying-external-accounts: key policy without the external IAM policy",
			req:      Request{Principal: userB, Action: "kms:Decrypt", Resource: kmsKey},
			resource: []pol{{"key-policy", kmsExternalKeyPolicy}},
			kms:      true, want: ImplicitDeny, wantTyp: IdentityBased,
			wantMsg: "User: arn:aws:iam::444455556666:user/ExampleUser is not authorized to perform: kms:Decrypt on resource: " + kmsKey + " because no identity-based policy allows the kms:Decrypt action",
		},
		{
			name:     "key-policy-modifying-external-accounts: external IAM policy without the key policy grant",
			req:      Request{Principal: userB, Action: "kms:Decrypt", Resource: kmsKey},
			identity: []pol{{"external", kmsExternalIAM}},
			resource: []pol{{"key-policy", kmsDefaultKeyPolicy}},
			kms:      true, want: ImplicitDeny, wantTyp: ResourceBased,
			wantMsg: "User: arn:aws:iam::444455556666:user/ExampleUser is not authorized to perform: kms:Decrypt on resource: " + kmsKey + " because no resource-based policy allows the kms:Decrypt action",
		},
		{
			name:     "key-policy-modifying-external-accounts: the external account's root user needs only the key policy",
			req:      Request{Principal: rootB, Action: "kms:Decrypt", Resource: kmsKey},
			resource: []pol{{"key-policy", kmsExternalKeyPolicy}},
			kms:      true, want: Allowed,
		},
		{
			name:     "key-policy-modifying-external-accounts: an action the key policy does not grant",
			req:      Request{Principal: userB, Action: "kms:ScheduleKeyDeletion", Resource: kmsKey},
			identity: []pol{{"admin", adminIAM}},
			resource: []pol{{"key-policy", kmsExternalKeyPolicy}},
			kms:      true, want: ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "evaluation-logic-cross-account: an identity policy alone does not reach another account",
			req:      Request{Principal: userB, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/x", ResourceAccount: acctA},
			identity: []pol{{"admin", adminIAM}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "evaluation-logic-cross-account: a resource policy naming the user still needs the user's IAM policy",
			req:      Request{Principal: userB, Action: "kms:Decrypt", Resource: kmsKey},
			resource: []pol{{"key-policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/ExampleUser"},"Action":"kms:Decrypt","Resource":"*"}]}`}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "create-a-vault-access-policy: aws:PrincipalOrgID admits a role of the organization",
			req:      Request{Principal: copyRole, Action: "backup:CopyIntoBackupVault", Resource: vaultArn},
			identity: []pol{{"AWSBackupServiceRolePolicyForBackup", copyIAM}},
			resource: []pol{{"vault-policy", vaultOrgPolicy}},
			want:     Allowed,
		},
		{
			name:     "create-a-vault-access-policy: aws:PrincipalOrgID refuses another organization",
			req:      Request{Principal: strangerRole, Action: "backup:CopyIntoBackupVault", Resource: vaultArn},
			identity: []pol{{"admin", adminIAM}},
			resource: []pol{{"vault-policy", vaultOrgPolicy}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
			wantMsg: "User: arn:aws:sts::999988887777:assumed-role/Admin/s is not authorized to perform: backup:CopyIntoBackupVault on resource: " + vaultArn + " because no resource-based policy allows the backup:CopyIntoBackupVault action",
		},
		{
			name:     "create-a-vault-access-policy: the org policy does not grant other actions",
			req:      Request{Principal: copyRole, Action: "backup:DeleteRecoveryPoint", Resource: vaultArn},
			identity: []pol{{"admin", adminIAM}},
			resource: []pol{{"vault-policy", vaultOrgPolicy}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "create-a-vault-access-policy: aws:PrincipalOrgPaths admits an OU member",
			req:      Request{Principal: copyRole, Action: "backup:CopyIntoBackupVault", Resource: vaultArn},
			identity: []pol{{"copy", copyIAM}},
			resource: []pol{{"vault-policy", vaultOUPolicy}},
			want:     Allowed,
		},
		{
			name:     "create-a-vault-access-policy: aws:PrincipalOrgPaths refuses a principal outside any organization",
			req:      Request{Principal: userB, Action: "backup:CopyIntoBackupVault", Resource: vaultArn},
			identity: []pol{{"copy", copyIAM}},
			resource: []pol{{"vault-policy", vaultOUPolicy}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "elements_notprincipal: the listed session is exempt from the Deny",
			req:      Request{Principal: auditB, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/report", ResourceAccount: acctA},
			identity: []pol{{"read", readAnyS3}},
			resource: []pol{{"bucket", notPrincipalBucket}},
			want:     Allowed,
		},
		{
			name:     "elements_notprincipal: another session of the same role is denied",
			req:      Request{Principal: otherSess, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/report", ResourceAccount: acctA},
			identity: []pol{{"read", readAnyS3}},
			resource: []pol{{"bucket", notPrincipalBucket}},
			want:     ExplicitDeny, wantTyp: ResourceBased,
			wantMsg: "User: arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/other-app is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::amzn-s3-demo-bucket/report with an explicit deny in a resource-based policy",
		},
		{
			name:     "elements_notprincipal: listing the role but not the session denies the session",
			req:      Request{Principal: auditB, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/report", ResourceAccount: acctA},
			identity: []pol{{"read", readAnyS3}},
			resource: []pol{{"bucket", notPrincipalRoleOnly}},
			want:     ExplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "elements_notaction: Allow with NotAction allows everything but IAM (s3)",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"},
			identity: []pol{{"not-iam", notActionAllow}},
			want:     Allowed,
		},
		{
			name:     "elements_notaction: Allow with NotAction allows everything but IAM (iam)",
			req:      Request{Principal: bob, Action: "IAM:CreateUser", Resource: "arn:aws:iam::111122223333:user/x"},
			identity: []pol{{"not-iam", notActionAllow}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "elements_notaction: DenyAllUsersNotUsingMFA denies non-IAM actions without MFA",
			req:      Request{Principal: bob, Action: "ec2:RunInstances", Resource: "*", Context: map[string][]string{"aws:MultiFactorAuthPresent": {"false"}}},
			identity: []pol{{"mfa", notActionDenyNoMFA}},
			want:     ExplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "elements_notaction: DenyAllUsersNotUsingMFA denies when the MFA key is absent (BoolIfExists)",
			req:      Request{Principal: bob, Action: "ec2:RunInstances", Resource: "*"},
			identity: []pol{{"mfa", notActionDenyNoMFA}},
			want:     ExplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "elements_notaction: DenyAllUsersNotUsingMFA allows with MFA",
			req:      Request{Principal: bob, Action: "ec2:RunInstances", Resource: "*", Context: map[string][]string{"aws:MultiFactorAuthPresent": {"true"}}},
			identity: []pol{{"mfa", notActionDenyNoMFA}},
			want:     Allowed,
		},
		{
			name:     "elements_notaction: DenyAllUsersNotUsingMFA leaves IAM alone",
			req:      Request{Principal: bob, Action: "iam:ChangePassword", Resource: "*"},
			identity: []pol{{"mfa", notActionDenyNoMFA}},
			want:     Allowed,
		},
		{
			name:     "elements_notresource: Deny with NotResource keeps the payroll folder reachable",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Payroll/jan.csv"},
			identity: []pol{{"hr", notResourceDeny}},
			want:     Allowed,
		},
		{
			name:     "elements_notresource: Deny with NotResource denies every other resource",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::HRBucket/Other/jan.csv"},
			identity: []pol{{"hr", notResourceDeny}},
			want:     ExplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "policies_variables: ${aws:username} gives bob his home folder",
			req:      Request{Principal: bob, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/notes.txt"},
			identity: []pol{{"home", homeFolder}},
			want:     Allowed,
		},
		{
			name:     "policies_variables: ${aws:username} does not give bob carlos's folder",
			req:      Request{Principal: bob, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/home/carlossalazar/notes.txt"},
			identity: []pol{{"home", homeFolder}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "policies_variables: a role session has no aws:username, so the variable matches nothing",
			req:      Request{Principal: auditB, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/home//notes.txt", ResourceAccount: acctB},
			identity: []pol{{"home", homeFolder}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "policies_variables: Version 2008-10-17 treats ${aws:username} literally",
			req:      Request{Principal: bob, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/notes.txt"},
			identity: []pol{{"home", homeFolderLegacy}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "policies_variables: Version 2008-10-17 literal matches the literal text",
			req:      Request{Principal: bob, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/notes.txt"},
			identity: []pol{{"home", homeFolderLegacy}},
			want:     Allowed,
		},
		{
			name: "policies_variables: ${aws:PrincipalTag/team} from the principal's tags",
			req: Request{Principal: Principal{Type: PrincipalUser, Account: acctA, ARN: "arn:aws:iam::111122223333:user/ana", Tags: map[string]string{"team": "dba"}},
				Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/dba/x"},
			identity: []pol{{"team", teamFolder}},
			want:     Allowed,
		},
		{
			name:     "policies_variables: the default value applies when the tag is missing",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/company-wide/x"},
			identity: []pol{{"team", teamFolder}},
			want:     Allowed,
		},
		{
			name:     "policies_variables: ${*} is a literal asterisk",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/*/bob"},
			identity: []pol{{"star", starFolder}},
			want:     Allowed,
		},
		{
			name:     "policies_variables: ${*} is not a wildcard",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/x/bob"},
			identity: []pol{{"star", starFolder}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name: "policies_variables: a variable's value is not a wildcard",
			req: Request{Principal: Principal{Type: PrincipalUser, Account: acctA, ARN: "arn:aws:iam::111122223333:user/ana", Tags: map[string]string{"team": "*"}},
				Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/dba/x"},
			identity: []pol{{"team", teamFolder}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "access_policies_boundaries: the boundary limits an administrator",
			req:      Request{Principal: bob, Action: "iam:CreateUser", Resource: "arn:aws:iam::111122223333:user/x"},
			identity: []pol{{"admin", adminIAM}},
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{{PermissionsBoundary, []pol{{"boundary", boundary}}}},
			want: ImplicitDeny, wantTyp: PermissionsBoundary,
			wantMsg: "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::111122223333:user/x because no permissions boundary allows the iam:CreateUser action",
		},
		{
			name:     "access_policies_boundaries: inside the boundary",
			req:      Request{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"},
			identity: []pol{{"admin", adminIAM}},
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{{PermissionsBoundary, []pol{{"boundary", boundary}}}},
			want: Allowed,
		},
		{
			name:     "access_policies_boundaries: a same-account resource policy naming the user is not limited",
			req:      Request{Principal: bob, Action: "kms:Decrypt", Resource: kmsKey},
			resource: []pol{{"key-policy", iamUserResourcePolicy}},
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{{PermissionsBoundary, []pol{{"boundary", boundary}}}},
			want: Allowed,
		},
		{
			name:     "orgs_manage_policies_scps_examples: region SCP denies outside the EU",
			req:      Request{Principal: bob, Action: "backup:StartBackupJob", Resource: "*", Context: map[string][]string{"aws:RequestedRegion": {"us-east-1"}}},
			identity: []pol{{"admin", adminIAM}},
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{{ServiceControl, []pol{{"FullAWSAccess", scpFull}, {"DenyRegions", scpRegion}}}},
			want: ExplicitDeny, wantTyp: ServiceControl,
			wantMsg: "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: backup:StartBackupJob on resource: * with an explicit deny in a service control policy",
		},
		{
			name:     "orgs_manage_policies_scps_examples: region SCP lets IAM through",
			req:      Request{Principal: bob, Action: "iam:GetUser", Resource: "*", Context: map[string][]string{"aws:RequestedRegion": {"us-east-1"}}},
			identity: []pol{{"admin", adminIAM}},
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{{ServiceControl, []pol{{"FullAWSAccess", scpFull}, {"DenyRegions", scpRegion}}}},
			want: Allowed,
		},
		{
			name:     "orgs_manage_policies_inheritance_auth: every level of the organization must allow",
			req:      Request{Principal: rootA, Action: "s3:GetObject", Resource: "*"},
			identity: nil,
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{
				{ServiceControl, []pol{{"root:FullAWSAccess", scpFull}}},
				{ServiceControl, []pol{{"ou:OnlyBackup", scpOnlyBackup}}},
			},
			want: ImplicitDeny, wantTyp: ServiceControl,
			wantMsg: "User: arn:aws:iam::111122223333:root is not authorized to perform: s3:GetObject on resource: * because no service control policy allows the s3:GetObject action",
		},
		{
			name:     "access_policies_session: the session policy limits the role's permissions",
			req:      Request{Principal: auditB, Action: "s3:PutObject", Resource: "arn:aws:s3:::b/k", ResourceAccount: acctB},
			identity: []pol{{"admin", adminIAM}},
			guards: []struct {
				typ  PolicyType
				pols []pol
			}{{SessionPolicy, []pol{{"session", readAnyS3}}}},
			want: ImplicitDeny, wantTyp: SessionPolicy,
		},
		{
			name:     "id_roles_create_for-service: the service principal may assume the role that trusts it",
			req:      Request{Principal: backupSvc, Action: "sts:AssumeRole", Resource: roleArn},
			resource: []pol{{"trust", backupTrust}},
			want:     Allowed,
		},
		{
			name:     "id_roles_create_for-service: another service may not",
			req:      Request{Principal: Principal{Type: PrincipalService, Service: "ec2.amazonaws.com"}, Action: "sts:AssumeRole", Resource: roleArn},
			resource: []pol{{"trust", backupTrust}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
			wantMsg: "User: ec2.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: " + roleArn + " because no resource-based policy allows the sts:AssumeRole action",
		},
		{
			name:     "id_roles_common-scenarios_third-party: trust policy with sts:ExternalId and the caller's IAM policy",
			req:      Request{Principal: userB, Action: "sts:AssumeRole", Resource: roleArn, Context: map[string][]string{"sts:ExternalId": {"Unique ID Assigned by Example Corp"}}},
			identity: []pol{{"assume", assumeAny}},
			resource: []pol{{"trust", crossTrust}},
			want:     Allowed,
		},
		{
			name:     "id_roles_common-scenarios_third-party: wrong ExternalId",
			req:      Request{Principal: userB, Action: "sts:AssumeRole", Resource: roleArn, Context: map[string][]string{"sts:ExternalId": {"guess"}}},
			identity: []pol{{"assume", assumeAny}},
			resource: []pol{{"trust", crossTrust}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "id_roles_common-scenarios_aws-accounts: the trust policy alone does not let a user assume cross-account",
			req:      Request{Principal: userB, Action: "sts:AssumeRole", Resource: roleArn, Context: map[string][]string{"sts:ExternalId": {"Unique ID Assigned by Example Corp"}}},
			resource: []pol{{"trust", crossTrust}},
			want:     ImplicitDeny, wantTyp: IdentityBased,
		},
		{
			name:     "reference_policies_elements_principal: Principal \"*\" includes anonymous callers",
			req:      Request{Principal: anonymous, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/index.html"},
			resource: []pol{{"bucket", publicRead}},
			want:     Allowed,
		},
		{
			name:     "reference_policies_elements_principal: anonymous callers get nothing else",
			req:      Request{Principal: anonymous, Action: "s3:PutObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/index.html"},
			identity: []pol{{"admin", adminIAM}},
			resource: []pol{{"bucket", publicRead}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
			wantMsg: "User: anonymous is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::amzn-s3-demo-bucket/index.html because no resource-based policy allows the s3:PutObject action",
		},
		{
			name: "id_root-user: the root user has full rights in its account",
			req:  Request{Principal: rootA, Action: "backup:DeleteBackupVault", Resource: "arn:aws:backup:us-east-1:111122223333:backup-vault:v"},
			want: Allowed,
		},
		{
			name:     "id_root-user: a resource policy's explicit Deny naming the account binds the root user",
			req:      Request{Principal: rootA, Action: "backup:DeleteBackupVault", Resource: "arn:aws:backup:us-east-1:111122223333:backup-vault:v"},
			resource: []pol{{"vault-policy", denyAccountA}},
			want:     ExplicitDeny, wantTyp: ResourceBased,
		},
		{
			name: "id_root-user: the root user has no rights in another account",
			req:  Request{Principal: rootA, Action: "backup:DeleteRecoveryPoint", Resource: "arn:aws:backup:us-east-1:666777888999:recovery-point:rp"},
			want: ImplicitDeny, wantTyp: ResourceBased,
		},
		{
			name:     "the seed: the source account's administrator cannot delete the backup account's recovery points",
			req:      Request{Principal: copyRole, Action: "backup:DeleteRecoveryPoint", Resource: "arn:aws:backup:us-east-1:666777888999:recovery-point:rp"},
			identity: []pol{{"admin", adminIAM}},
			resource: []pol{{"vault-policy", vaultOrgPolicy}},
			want:     ImplicitDeny, wantTyp: ResourceBased,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps PolicySet
			for _, p := range tt.identity {
				ps.Identity = append(ps.Identity, mustKind(t, KindIdentity, p.name, p.doc))
			}
			for _, p := range tt.resource {
				kind := KindResource
				if tt.req.Action == "sts:AssumeRole" {
					kind = KindTrust
				}
				ps.Resource = append(ps.Resource, mustKind(t, kind, p.name, p.doc))
			}
			for _, g := range tt.guards {
				guard := Guard{Type: g.typ}
				for _, p := range g.pols {
					guard.Policies = append(guard.Policies, mustKind(t, KindIdentity, p.name, p.doc))
				}
				ps.Guards = append(ps.Guards, guard)
			}
			ps.ResourcePolicyRequired = tt.kms
			got := Evaluate(tt.req, ps)
			if got.Outcome != tt.want {
				t.Fatalf("Outcome = %v (%v), want %v", got.Outcome, got, tt.want)
			}
			if got.Outcome != Allowed && got.Type != tt.wantTyp {
				t.Errorf("Type = %v, want %v (%v)", got.Type, tt.wantTyp, got)
			}
			if tt.wantMsg != "" {
				if msg := got.Message(tt.req); msg != tt.wantMsg {
					t.Errorf("Message =\n  %s\nwant\n  %s", msg, tt.wantMsg)
				}
			}
			if got.Outcome == Allowed && got.Message(tt.req) != "" {
				t.Errorf("Message of an allowed decision = %q, want empty", got.Message(tt.req))
			}
		})
	}
}

func TestDecisionExplains(t *testing.T) {
	id := mustKind(t, KindIdentity, "carlos", carlosIdentity)
	req := Request{Principal: carlos, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/a"}
	d := Evaluate(req, PolicySet{Identity: []NamedPolicy{id}})
	if !d.IsAllowed() || len(d.Statements) != 1 || d.Statements[0].Sid != "AllowS3Self" {
		t.Fatalf("decision = %+v, want allowed by AllowS3Self", d)
	}
	if got, want := d.String(), `allowed by identity-based policy "carlos" statement "AllowS3Self"`; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	req.Resource = "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/a"
	d = Evaluate(req, PolicySet{Identity: []NamedPolicy{id}})
	if d.Outcome != ExplicitDeny || d.Statements[0].Sid != "DenyS3Logs" || d.Statements[0].Index != 2 {
		t.Fatalf("decision = %+v, want explicit deny by DenyS3Logs", d)
	}
	if got, want := d.String(), `explicitly denied by identity-based policy "carlos" statement "DenyS3Logs"`; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	d = Evaluate(Request{Principal: rootA, Action: "s3:GetObject", Resource: "*"}, PolicySet{})
	if !d.IsAllowed() || !d.RootUser {
		t.Errorf("root decision = %+v, want allowed as root user", d)
	}
}

func TestDerivedContextKeys(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		cond string
		p    Principal
		want bool
	}{
		{"aws:PrincipalArn of a session is the role ARN", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::444455556666:role/cross-account-read-only-role"}}`, auditB, true},
		{"aws:PrincipalAccount", `{"StringEquals":{"aws:PrincipalAccount":"444455556666"}}`, auditB, true},
		{"aws:PrincipalType", `{"StringEquals":{"aws:PrincipalType":"AssumedRole"}}`, auditB, true},
		{"aws:username only for users", `{"Null":{"aws:username":"true"}}`, auditB, true},
		{"aws:username of a user", `{"StringEquals":{"aws:username":"bob"}}`, bob, true},
		{"aws:userid of root is the account", `{"StringEquals":{"aws:userid":"111122223333"}}`, rootA, true},
		{"aws:PrincipalIsAWSService", `{"Bool":{"aws:PrincipalIsAWSService":"true"}}`, backupSvc, true},
		{"aws:PrincipalServiceName", `{"StringEquals":{"aws:PrincipalServiceName":"backup.amazonaws.com"}}`, backupSvc, true},
		{"aws:CurrentTime from Now", `{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2024-06-30T23:59:59Z"}}`, bob, true},
		{"aws:EpochTime from Now, epoch policy value", `{"DateEquals":{"aws:EpochTime":"1714564800"}}`, bob, true},
		{"aws:EpochTime compared with an ISO date", `{"DateLessThan":{"aws:EpochTime":"2024-05-01T12:00:01Z"}}`, bob, true},
		{"key names are case-insensitive", `{"StringEquals":{"AWS:PRINCIPALORGID":"o-a1b2c3d4e5"}}`, copyRole, true},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"x:Y","Resource":"*","Condition":` + tt.cond + `}]}`
			res := mustKind(t, KindResource, "p", doc)
			d := Evaluate(Request{Principal: tt.p, Action: "x:Y", Resource: "*", Now: now}, PolicySet{Resource: []NamedPolicy{res}})
			if d.IsAllowed() != tt.want {
				t.Errorf("allowed = %v, want %v (%v)", d.IsAllowed(), tt.want, d)
			}
		})
	}
}
