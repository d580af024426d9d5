package identity

import (
	"net/http"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/policy"
)

// AWS-managed policies: global, read-only, attachable in every account.
const (
	AdministratorAccessARN        = "arn:aws:iam::aws:policy/AdministratorAccess"
	BackupServiceRolePolicyARN    = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
	BackupRestoresRolePolicyARN   = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
	BackupDefaultServiceRoleName  = "AWSBackupDefaultServiceRole"
	BackupServicePrincipal        = "backup.amazonaws.com"
	OrganizationAccountAccessRole = "OrganizationAccountAccessRole"
)

// backupServiceRolePolicy is the part of AWS's
// AWSBackupServiceRolePolicyForBackup that concerns the services coffer
// implements: reading and snapshotting RDS instances (and turning on
// their continuous backup, ModifyDBInstance), and using KMS keys
// only through RDS and Backup, or granting them to AWS resources. Its
// key use stops at the role's own account: a key another account shares
// needs an IAM policy of its own (the seed's "Add IAM policy" step), as
// the key policy alone is never enough across accounts.
const backupServiceRolePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "RDSBackupPermissions", "Effect": "Allow",
     "Action": ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:CreateDBSnapshot", "rds:CopyDBSnapshot",
                "rds:DeleteDBSnapshot", "rds:ListTagsForResource", "rds:AddTagsToResource", "rds:ModifyDBInstance"],
     "Resource": "*"},
    {"Sid": "BackupVaultPermissions", "Effect": "Allow",
     "Action": ["backup:DescribeBackupVault", "backup:CopyIntoBackupVault"],
     "Resource": "arn:aws:backup:*:*:backup-vault:*"},
    {"Sid": "KMSDescribePermissions", "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"},
    {"Sid": "KMSGrantPermissions", "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    {"Sid": "KMSViaServicePermissions", "Effect": "Allow",
     "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
     "Resource": "*",
     "Condition": {"StringLike": {"kms:ViaService": ["rds.*.amazonaws.com", "backup.*.amazonaws.com"]},
                   "StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}},
    {"Sid": "TagPermissions", "Effect": "Allow", "Action": "tag:GetResources", "Resource": "*"}
  ]
}`

// backupRestoresRolePolicy is the part of AWS's
// AWSBackupServiceRolePolicyForRestores for RDS restores.
const backupRestoresRolePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "RDSRestorePermissions", "Effect": "Allow",
     "Action": ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:CreateDBInstance", "rds:RestoreDBInstanceFromDBSnapshot",
                "rds:RestoreDBInstanceToPointInTime", "rds:ModifyDBInstance", "rds:DeleteDBInstance", "rds:AddTagsToResource"],
     "Resource": "*"},
    {"Sid": "KMSDescribePermissions", "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"},
    {"Sid": "KMSGrantPermissions", "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    {"Sid": "KMSViaServicePermissions", "Effect": "Allow",
     "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
     "Resource": "*",
     "Condition": {"StringLike": {"kms:ViaService": ["rds.*.amazonaws.com", "backup.*.amazonaws.com"]},
                   "StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}}
  ]
}`

type managedPolicy struct {
	info   ManagedPolicy
	doc    string
	parsed *policy.Policy
}

var awsManaged = map[string]managedPolicy{}

func init() {
	created := time.Date(2019, 1, 10, 21, 1, 0, 0, time.UTC)
	for _, m := range []struct{ arn, name, path, id, desc, doc string }{
		{AdministratorAccessARN, "AdministratorAccess", "/", "ANPAIWMBCKSKIEE64ZLYK", "Provides full access to AWS services and resources.", AdministratorAccess},
		{BackupServiceRolePolicyARN, "AWSBackupServiceRolePolicyForBackup", "/service-role/", "ANPAJQVU2YXNZ7EXAMPLE", "Provides AWS Backup permission to create backups of supported resource types on your behalf", backupServiceRolePolicy},
		{BackupRestoresRolePolicyARN, "AWSBackupServiceRolePolicyForRestores", "/service-role/", "ANPAJ4VQQ2YXNZ8EXAMPLE", "Provides AWS Backup permission to perform restores of supported resource types on your behalf", backupRestoresRolePolicy},
	} {
		awsManaged[m.arn] = managedPolicy{
			info: ManagedPolicy{ARN: m.arn, Name: m.name, PolicyID: m.id, Path: m.path, Description: m.desc,
				DefaultVersion: "v1", AWSManaged: true, Created: created, Updated: created},
			doc:    m.doc,
			parsed: policy.MustParse(m.doc),
		}
	}
}

// BackupServiceRoleTrust is the trust policy of AWSBackupDefaultServiceRole.
const BackupServiceRoleTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func authzReq(action, resource, resourceAccount string) authz.Request {
	return authz.Request{Action: action, Resource: resource, ResourceAccount: resourceAccount, DeniedCode: "AccessDenied"}
}

func awserrUnmodifiable(arn string) *awserr.Error {
	return awserr.New(awserr.Invalid, "UnmodifiableEntity", "Cannot delete or modify the AWS managed policy %s.", arn).WithStatus(http.StatusBadRequest)
}
