package kms

import (
	"context"
	"errors"
	"fmt"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/policy"
)

// maxKeyPolicySize is KMS's key policy limit, whitespace included.
const maxKeyPolicySize = 32768

// DefaultKeyPolicy is the policy CreateKey gives a key when the request
// has none: it delegates every KMS action to the account's IAM policies.
func DefaultKeyPolicy(account string) string {
	return fmt.Sprintf(`{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::%s:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`, account)
}

// managedKeyPolicy is the policy of the AWS-managed key aws/SERVICE: use
// only through the service by principals of the same account, and
// read-only metadata access for the account. Nobody can change it.
func managedKeyPolicy(account, region, service string) string {
	return fmt.Sprintf(`{
  "Version" : "2012-10-17",
  "Id" : "auto-%[3]s-1",
  "Statement" : [ {
    "Sid" : "Allow access through %[3]s for all principals in the account that are authorized to use %[3]s",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "*"
    },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {
      "StringEquals" : {
        "kms:ViaService" : "%[3]s.%[2]s.amazonaws.com",
        "kms:CallerAccount" : "%[1]s"
      }
    }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::%[1]s:root"
    },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant" ],
    "Resource" : "*"
  } ]
}`, account, region, service)
}

// parseKeyPolicy validates a key policy document as PutKeyPolicy and
// CreateKey do.
func parseKeyPolicy(doc string) (*policy.Policy, error) {
	pol, err := policy.Parse([]byte(doc), policy.ParseOptions{Kind: policy.KindResource, MaxSize: maxKeyPolicySize, CountWhitespace: true})
	if err != nil {
		if errors.Is(err, policy.ErrTooLarge) {
			return nil, awserr.New(awserr.Limit, "LimitExceededException", "The key policy is larger than %d bytes.", maxKeyPolicySize)
		}
		return nil, awserr.New(awserr.Invalid, "MalformedPolicyDocumentException", "%s", err.Error())
	}
	return pol, nil
}

// allowIdentity stands for "an IAM policy that allows", to ask what a key
// policy alone would let the caller do.
var allowIdentity = []policy.NamedPolicy{{Name: "any", Policy: policy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)}}

// lockoutCheck is the policy lockout safety check of CreateKey and
// PutKeyPolicy: the new policy must let the caller make a later
// PutKeyPolicy request (directly, or through the account's IAM
// policies), so the key cannot become unmanageable.
func (s *Service) lockoutCheck(ctx context.Context, keyARN, account string, pol *policy.Policy) error {
	d, pr, err := s.authz.Decide(ctx, authz.Request{Action: "kms:PutKeyPolicy", Resource: keyARN, ResourceAccount: account, ResourcePolicy: pol, ResourcePolicyRequired: true})
	if err != nil {
		return err
	}
	if d.IsAllowed() {
		return nil
	}
	d = policy.Evaluate(pr, policy.PolicySet{Identity: allowIdentity, Resource: []policy.NamedPolicy{{Name: "key policy", Policy: pol}}, ResourcePolicyRequired: true})
	if d.IsAllowed() {
		return nil
	}
	return awserr.New(awserr.Invalid, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
}
