package iam_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// BenchmarkGetUser is one authorized, audited IAM call through the whole
// server (HTTP, SigV4, awsQuery, authorization, audit) with
// aws-sdk-go-v2 over loopback, at 1 and 32 concurrent clients.
func BenchmarkGetUser(b *testing.B) {
	c := testenv.StartSeed(b, nil)
	client := iam.NewFromConfig(c.AWSConfig(b, c.Profile(b, "source")))
	ctx := context.Background()
	in := &iam.GetUserInput{UserName: aws.String("admin")}
	for _, clients := range []int{1, 32} {
		b.Run(map[int]string{1: "clients=1", 32: "clients=32"}[clients], func(b *testing.B) {
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(clients)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if _, err := client.GetUser(ctx, in); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
