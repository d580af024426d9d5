package backup

import (
	"regexp"
	"strings"
)

// ARN is a parsed Amazon Resource Name.
type ARN struct {
	Partition, Service, Region, Account, Resource string
}

var accountRe = regexp.MustCompile(`^\d{12}$`)

// parseARN parses arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, accepting
// only the aws partition coffer serves.
func parseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] == "" || parts[5] == "" {
		return ARN{}, InvalidParam("%q is not a valid ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)", s)
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if a.Partition != "aws" {
		return ARN{}, InvalidParam("ARN %s is in partition %q; coffer serves the aws partition only", s, a.Partition)
	}
	if a.Account != "" && !accountRe.MatchString(a.Account) {
		return ARN{}, InvalidParam("ARN %s has account %q; account IDs are 12 digits", s, a.Account)
	}
	return a, nil
}

// parseVaultARN parses arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME.
func parseVaultARN(s string) (ARN, string, error) {
	a, err := parseARN(s)
	if err != nil {
		return ARN{}, "", err
	}
	name, ok := strings.CutPrefix(a.Resource, "backup-vault:")
	if a.Service != "backup" || !ok || !vaultNameRe.MatchString(name) || a.Region == "" || a.Account == "" {
		return ARN{}, "", InvalidParam("%s is not a backup vault ARN (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME)", s)
	}
	return a, name, nil
}

// parseRoleARN parses arn:aws:iam::ACCOUNT:role/PATH/NAME.
func parseRoleARN(s string) (ARN, error) {
	a, err := parseARN(s)
	if err != nil {
		return ARN{}, err
	}
	if a.Service != "iam" || a.Region != "" || !strings.HasPrefix(a.Resource, "role/") || a.Account == "" {
		return ARN{}, InvalidParam("%s is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", s)
	}
	return a, nil
}

// resourceType tells the AWS Backup resource type of a resource ARN.
func resourceType(a ARN) (string, error) {
	if a.Service == "rds" && strings.HasPrefix(a.Resource, "db:") {
		return "RDS", nil
	}
	return "", InvalidParam("resource arn:%s:%s:%s:%s:%s is not of a type coffer backs up; it backs up RDS DB instances (arn:aws:rds:REGION:ACCOUNT:db:ID)", a.Partition, a.Service, a.Region, a.Account, a.Resource)
}
