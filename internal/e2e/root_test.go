package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The account root has full rights in its own account and none in
// another.
func TestAccountRoot(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	cfg := w.c.AWSConfig(t, w.c.Profile(t, "source-root"))
	id := must[*sts.GetCallerIdentityOutput](t)(sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))
	if got := aws.ToString(id.Arn); got != "arn:aws:iam::111222333444:root" {
		t.Fatalf("root caller = %s", got)
	}
	root := kms.NewFromConfig(cfg)
	key := must[*kms.CreateKeyOutput](t)(root.CreateKey(ctx, &kms.CreateKeyInput{}))
	must[*backup.CreateBackupVaultOutput](t)(backup.NewFromConfig(cfg).CreateBackupVault(ctx, &backup.CreateBackupVaultInput{BackupVaultName: aws.String("roots-vault"), EncryptionKeyArn: key.KeyMetadata.Arn}))
	other := w.dst.createKey(t, "backup-cmk", sharedKeyPolicy(backupAcct))
	if _, err := root.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(other)}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("root of 111222333444 on a key of 666777888999: %v", err)
	}
}
