package kms_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestInputValidation checks that KMS inputs are validated against the
// AWS model before anything runs, with AWS's ValidationException and
// wording: a NUL in a tag key, invalid UTF-8 in a string member, a
// value longer than the model allows, a missing required member. None of
// them leaves anything behind.
func TestInputValidation(t *testing.T) {
	_, a, _ := start(t)
	ctx := context.Background()
	k := must(a.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata

	_, err := a.TagResource(ctx, &kms.TagResourceInput{KeyId: k.KeyId, Tags: []types.Tag{
		{TagKey: aws.String("ok"), TagValue: aws.String("v")},
		{TagKey: aws.String("a\x00b"), TagValue: aws.String("v")},
	}})
	testenv.WantAPIError(t, err, "ValidationException", "1 validation error detected: Value 'a\uFFFDb' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must not contain NUL characters")

	_, err = a.TagResource(ctx, &kms.TagResourceInput{KeyId: k.KeyId, Tags: []types.Tag{{TagKey: aws.String(strings.Repeat("k", 129)), TagValue: aws.String("v")}}})
	testenv.WantAPIError(t, err, "ValidationException", "at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128")

	tags := must(a.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k.KeyId})).Tags
	if len(tags) != 0 {
		t.Errorf("tags after refused TagResource calls = %+v, want none", tags)
	}

	// The SDK would send valid JSON; put raw invalid UTF-8 into the body
	// after serialization, before signing.
	_, err = a.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: k.KeyId, Description: aws.String("INVALID")},
		func(o *kms.Options) {
			o.APIOptions = append(o.APIOptions, testenv.ReplaceInBody("INVALID", "bad \xff\xfe text"))
		})
	testenv.WantAPIError(t, err, "ValidationException", "Value at 'description' failed to satisfy constraint: Member must be valid UTF-8")
	if d := must(a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})).KeyMetadata.Description; aws.ToString(d) != "" {
		t.Errorf("description after a refused update = %q", aws.ToString(d))
	}

	_, err = a.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: k.KeyId, Description: aws.String("x")},
		func(o *kms.Options) {
			o.APIOptions = append(o.APIOptions, testenv.RewriteBody(func(string) string { return "{}" }))
		})
	testenv.WantAPIError(t, err, "ValidationException", "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; Value null at 'description' failed to satisfy constraint: Member must not be null")
}
