#!/usr/bin/env bash
# seed-cli.sh runs the seed's cross-account backup walkthrough with the AWS
# CLI, step by step as DESIGN.md's table lists it and as the README shows
# it, against a running coffer whose bootstrap created the organization
# with the source (111222333444) and backup (666777888999) accounts and the
# profiles default (management), source and backup. It queries the
# restored PostgreSQL database with psql and exits non-zero on any
# failure.
#
#   ENDPOINT=http://127.0.0.1:4566 AWS_SHARED_CREDENTIALS_FILE=... AWS_CONFIG_FILE=... scripts/e2e/seed-cli.sh
set -euo pipefail
: "${ENDPOINT:?set ENDPOINT to the URL of coffer}"
AWS_BIN="${AWS_BIN:-aws}"
REGION="${AWS_REGION:-us-east-1}"
SRC=111222333444
DST=666777888999
ROWS="${ROWS:-1000}"
PASSWORD='Orders-Passw0rd'

# command: AWS_BIN defaults to aws, which must name the CLI, not this function.
aws() { command "$AWS_BIN" --endpoint-url "$ENDPOINT" --region "$REGION" --output text "$@"; }
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

# wait_for PROFILE STATE-QUERY... : polls a describe command until its
# state is final, prints it.
wait_for() {
	local profile=$1; shift
	local state
	for _ in $(seq 1 600); do
		state=$(aws --profile "$profile" "$@")
		case "$state" in
		COMPLETED|FAILED|ABORTED|EXPIRED) echo "$state"; return ;;
		esac
		sleep 0.5
	done
	fail "$* did not finish"
}

# key_policy OWNER PRINCIPAL...: the console's key policy with "other
# AWS accounts" (or roles) allowed to use the key.
key_policy() {
	local owner=$1; shift
	local principals
	principals=$(printf '"%s",' "$@"); principals="[${principals%,}]"
	cat <<JSON
{"Version":"2012-10-17","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::$owner:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":$principals},
  "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
 {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":$principals},
  "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}
JSON
}

TRUST='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}'

# backup_role PROFILE NAME: a role for jobs with AWS's backup and restore
# policies.
backup_role() {
	aws --profile "$1" iam create-role --role-name "$2" --path /service-role/ --assume-role-policy-document "$TRUST" --query Role.Arn
	for p in AWSBackupServiceRolePolicyForBackup AWSBackupServiceRolePolicyForRestores; do
		aws --profile "$1" iam attach-role-policy --role-name "$2" --policy-arn "arn:aws:iam::aws:policy/service-role/$p" >/dev/null
	done
}

# allow_key PROFILE ROLE KEY: the "Add IAM policy" step.
allow_key() {
	aws --profile "$1" iam put-role-policy --role-name "$2" --policy-name shared-key --policy-document \
		"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\",\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\",\"kms:DescribeKey\",\"kms:CreateGrant\"],\"Resource\":\"$3\"}]}"
}

org_policy() {
	echo "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"backup:CopyIntoBackupVault\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"$1\"}}}]}"
}

step "management account: opt in to cross-account backup"
ORG=$(aws --profile default organizations describe-organization --query Organization.Id)
aws --profile default backup update-global-settings --global-settings isCrossAccountBackupEnabled=true

step "source account: a symmetric CMK whose key policy lets the backup account use it"
SRC_KEY=$(aws --profile source kms create-key --description source-cmk --policy "$(key_policy $SRC "arn:aws:iam::$DST:root")" --query KeyMetadata.Arn)
aws --profile source kms create-alias --alias-name alias/source-cmk --target-key-id "$SRC_KEY"
echo "$SRC_KEY"

step "source account: a PostgreSQL DB instance encrypted with the CMK, with data"
aws --profile source rds create-db-instance --db-instance-identifier orders-db --engine postgres \
	--db-instance-class db.t3.micro --allocated-storage 20 --db-name orders \
	--master-username orders_admin --master-user-password "$PASSWORD" \
	--storage-encrypted --kms-key-id alias/source-cmk --query DBInstance.DBInstanceArn
aws --profile source rds wait db-instance-available --db-instance-identifier orders-db
read -r HOST PORT DB_ARN < <(aws --profile source rds describe-db-instances --db-instance-identifier orders-db \
	--query 'DBInstances[0].[Endpoint.Address,Endpoint.Port,DBInstanceArn]')
PGPASSWORD="$PASSWORD" psql -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U orders_admin orders <<SQL
CREATE TABLE orders (id integer PRIMARY KEY, customer text NOT NULL, amount numeric NOT NULL, placed timestamptz NOT NULL);
INSERT INTO orders SELECT i, 'customer-' || (i % 97), (i * 7) % 1000, timestamptz '2026-01-01' + i * interval '1 minute' FROM generate_series(1, $ROWS) i;
SQL
SRC_COUNT=$(PGPASSWORD="$PASSWORD" psql -tA -h "$HOST" -p "$PORT" -U orders_admin orders -c 'SELECT count(*), sum(amount) FROM orders')
echo "$DB_ARN: $SRC_COUNT"

step "source account: backup role and vault, on-demand backup"
ROLE=$(backup_role source backup-role)
aws --profile source backup create-backup-vault --backup-vault-name source-vault --encryption-key-arn "$SRC_KEY" --query BackupVaultArn
JOB=$(aws --profile source backup start-backup-job --backup-vault-name source-vault --resource-arn "$DB_ARN" --iam-role-arn "$ROLE" --query BackupJobId)
STATE=$(wait_for source backup describe-backup-job --backup-job-id "$JOB" --query State)
[ "$STATE" = COMPLETED ] || fail "backup job $STATE: $(aws --profile source backup describe-backup-job --backup-job-id "$JOB" --query StatusMessage)"
RP=$(aws --profile source backup describe-backup-job --backup-job-id "$JOB" --query RecoveryPointArn)
echo "$RP"

step "backup account: its own CMK (not shared), an IAM policy for the source CMK, a vault open to the organization"
DST_KEY=$(aws --profile backup kms create-key --description backup-cmk --query KeyMetadata.Arn)
aws --profile backup kms create-alias --alias-name alias/backup-cmk --target-key-id "$DST_KEY"
DST_ROLE=$(backup_role backup AWSBackupDefaultServiceRole)
allow_key backup AWSBackupDefaultServiceRole "$SRC_KEY"
DST_VAULT=$(aws --profile backup backup create-backup-vault --backup-vault-name backup-vault --encryption-key-arn "$DST_KEY" --query BackupVaultArn)
aws --profile backup backup put-backup-vault-access-policy --backup-vault-name backup-vault --policy "$(org_policy "$ORG")"

step "source account: copy the recovery point into the backup account's vault"
COPY=$(aws --profile source backup start-copy-job --recovery-point-arn "$RP" --source-backup-vault-name source-vault \
	--destination-backup-vault-arn "$DST_VAULT" --iam-role-arn "$ROLE" --query CopyJobId)
STATE=$(wait_for source backup describe-copy-job --copy-job-id "$COPY" --query CopyJob.State)
[ "$STATE" = COMPLETED ] || fail "copy job $STATE: $(aws --profile source backup describe-copy-job --copy-job-id "$COPY" --query CopyJob.StatusMessage)"
COPY_RP=$(aws --profile source backup describe-copy-job --copy-job-id "$COPY" --query CopyJob.DestinationRecoveryPointArn)
COPY_KEY=$(aws --profile backup backup describe-recovery-point --backup-vault-name backup-vault --recovery-point-arn "$COPY_RP" --query EncryptionKeyArn)
[ "$COPY_KEY" = "$DST_KEY" ] || fail "the copy is encrypted under $COPY_KEY, not the backup account's key"
echo "$COPY_RP encrypted under $COPY_KEY"

step "copy back into the source vault"
aws --profile source backup put-backup-vault-access-policy --backup-vault-name source-vault --policy "$(org_policy "$ORG")"
SRC_DEFAULT=$(backup_role source AWSBackupDefaultServiceRole)
allow_key source AWSBackupDefaultServiceRole "$DST_KEY"
aws --profile backup kms put-key-policy --key-id "$DST_KEY" --policy-name default --policy "$(key_policy $DST "$SRC_DEFAULT")"
BACK=$(aws --profile backup backup start-copy-job --recovery-point-arn "$COPY_RP" --source-backup-vault-name backup-vault \
	--destination-backup-vault-arn "arn:aws:backup:$REGION:$SRC:backup-vault:source-vault" --iam-role-arn "$DST_ROLE" --query CopyJobId)
STATE=$(wait_for backup backup describe-copy-job --copy-job-id "$BACK" --query CopyJob.State)
[ "$STATE" = COMPLETED ] || fail "copy back $STATE: $(aws --profile backup backup describe-copy-job --copy-job-id "$BACK" --query CopyJob.StatusMessage)"

step "backup account: restore with the backup CMK and query the restored database"
aws --profile backup backup get-recovery-point-restore-metadata --backup-vault-name backup-vault --recovery-point-arn "$COPY_RP" --output json
RESTORE=$(aws --profile backup backup start-restore-job --recovery-point-arn "$COPY_RP" --iam-role-arn "$DST_ROLE" \
	--metadata "DBInstanceIdentifier=orders-restored,KmsKeyId=$DST_KEY" --query RestoreJobId)
STATE=$(wait_for backup backup describe-restore-job --restore-job-id "$RESTORE" --query Status)
[ "$STATE" = COMPLETED ] || fail "restore job $STATE: $(aws --profile backup backup describe-restore-job --restore-job-id "$RESTORE" --query StatusMessage)"
aws --profile backup backup describe-restore-job --restore-job-id "$RESTORE" --query '[CreatedResourceArn,ValidationStatus]'
aws --profile backup rds wait db-instance-available --db-instance-identifier orders-restored
read -r RHOST RPORT RDB RUSER RKEY < <(aws --profile backup rds describe-db-instances --db-instance-identifier orders-restored \
	--query 'DBInstances[0].[Endpoint.Address,Endpoint.Port,DBName,MasterUsername,KmsKeyId]')
[ "$RKEY" = "$DST_KEY" ] || fail "the restored instance uses key $RKEY"
[ "$RDB" = orders ] && [ "$RUSER" = orders_admin ] || fail "the restored instance is $RDB/$RUSER, not the source's orders/orders_admin"
RESTORED_COUNT=$(PGPASSWORD="$PASSWORD" psql -tA -h "$RHOST" -p "$RPORT" -U "$RUSER" "$RDB" -c 'SELECT count(*), sum(amount) FROM orders')
[ "$RESTORED_COUNT" = "$SRC_COUNT" ] || fail "restored rows $RESTORED_COUNT, source $SRC_COUNT"
echo "restored $RDB on $RHOST:$RPORT: $RESTORED_COUNT (source: $SRC_COUNT)"

step "the drill: the source account's administrator tries to destroy the backup account's copy"
for attempt in \
	"backup describe-recovery-point --backup-vault-name backup-vault --recovery-point-arn $COPY_RP" \
	"backup delete-recovery-point --backup-vault-name backup-vault --recovery-point-arn $COPY_RP" \
	"backup update-recovery-point-lifecycle --backup-vault-name backup-vault --recovery-point-arn $COPY_RP --lifecycle DeleteAfterDays=1" \
	"kms schedule-key-deletion --key-id $DST_KEY" ; do
	# shellcheck disable=SC2086
	if aws --profile source $attempt >/dev/null 2>&1; then fail "source admin could: $attempt"; fi
	echo "refused: ${attempt%% --*}"
done
[ "$(aws --profile backup backup describe-recovery-point --backup-vault-name backup-vault --recovery-point-arn "$COPY_RP" --query Status)" = COMPLETED ] || fail "the copy changed"

echo
echo "seed walkthrough: OK"
