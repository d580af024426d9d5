package backup_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestInvalidUTF8Refused checks that strings which are not valid UTF-8
// are refused in every protocol, in the body, the path and the form,
// with AWS's validation error naming the member, and that nothing is
// created from them (Go's decoders would otherwise store U+FFFD).
func TestInvalidUTF8Refused(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	creds := c.Profile(t, "source")
	b := backup.NewFromConfig(c.AWSConfig(t, creds))

	// restJson1 body.
	_, err := b.CreateBackupVault(ctx, &backup.CreateBackupVaultInput{BackupVaultName: aws.String("utf8-vault"), BackupVaultTags: map[string]string{"team": "INVALID"}},
		func(o *backup.Options) {
			o.APIOptions = append(o.APIOptions, testenv.ReplaceInBody("INVALID", "db\xa0a"))
		})
	testenv.WantAPIError(t, err, "ValidationException", "1 validation error detected: Value at 'backupVaultTags.team' failed to satisfy constraint: Member must be valid UTF-8")
	_, err = b.DescribeBackupVault(ctx, &backup.DescribeBackupVaultInput{BackupVaultName: aws.String("utf8-vault")})
	testenv.WantAPIError(t, err, "ResourceNotFoundException", "utf8-vault")

	// restJson1 path label and query string (the SDK percent-encodes the bytes).
	_, err = b.DescribeBackupVault(ctx, &backup.DescribeBackupVaultInput{BackupVaultName: aws.String("bad\xffname")})
	testenv.WantAPIError(t, err, "ValidationException", "Request path must be valid UTF-8")
	_, err = b.ListBackupVaults(ctx, &backup.ListBackupVaultsInput{NextToken: aws.String("t\xff")})
	testenv.WantAPIError(t, err, "ValidationException", "Value at 'nextToken' failed to satisfy constraint: Member must be valid UTF-8")

	// awsJson1_1 without model validation (Organizations).
	o := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	_, err = o.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String("r-0000"), Name: aws.String("INVALID")},
		func(o *organizations.Options) {
			o.APIOptions = append(o.APIOptions, testenv.ReplaceInBody("INVALID", "ou\xc3"))
		})
	testenv.WantAPIError(t, err, "ValidationException", "Value at 'name' failed to satisfy constraint: Member must be valid UTF-8")

	// awsQuery form (IAM).
	i := iam.NewFromConfig(c.AWSConfig(t, creds))
	_, err = i.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("user\xff")})
	testenv.WantAPIError(t, err, "ValidationError", "Value at 'UserName' failed to satisfy constraint: Member must be valid UTF-8")
	users := testenv.Must[*iam.ListUsersOutput](t)(i.ListUsers(ctx, &iam.ListUsersInput{}))
	for _, u := range users.Users {
		if aws.ToString(u.UserName) != "admin" {
			t.Errorf("user %q was created from an invalid name", aws.ToString(u.UserName))
		}
	}
}
