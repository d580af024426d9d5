package cloudtrail_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// aws-sdk-go-v2 names CloudTrail's operations with the short target
// prefix (CloudTrail_20131101.LookupEvents), not the model's long one the
// AWS CLI sends; both must reach the operation.
func TestLookupEventsWithSDK(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartCoffer(t, nil)
	cfg := c.AWSConfig(t, c.Profile(t, "default"))
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	var found bool
	for i := 0; i < 50 && !found; i++ {
		out, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(50)})
		if err != nil {
			t.Fatalf("LookupEvents: %v", err)
		}
		for _, e := range out.Events {
			found = found || aws.ToString(e.EventName) == "GetCallerIdentity"
		}
		if !found {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !found {
		t.Fatal("GetCallerIdentity is not in the event history")
	}
}
