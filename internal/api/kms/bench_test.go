package kms_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/coffer-dev/coffer/internal/app"
)

// BenchmarkKMS drives Encrypt, Decrypt and GenerateDataKey through the
// whole path — aws-sdk-go-v2, HTTP over loopback, SigV4, the key policy
// and IAM evaluation, AES-GCM — at 1 and 32 concurrent clients, and
// reports requests per second and the p50/p99 latencies.
//
//	go test -run XXX -bench KMS -benchtime 20000x ./internal/api/kms/
//
// (20,000 requests a case, so that the p99 rests on 200 of them.)
func BenchmarkKMS(b *testing.B) {
	app.TuneGC() // as coffer serve runs
	_, a, _ := start(b)
	ctx := context.Background()
	cfg := a.Options()
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 128, 128
	})
	client := kms.New(cfg)
	k, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	plaintext := make([]byte, 1024)
	ec := map[string]string{"bench": "kms"}
	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.Arn, Plaintext: plaintext, EncryptionContext: ec})
	if err != nil {
		b.Fatal(err)
	}
	ops := map[string]func() error{
		"Encrypt1KiB": func() error {
			_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.Arn, Plaintext: plaintext, EncryptionContext: ec})
			return err
		},
		"Decrypt1KiB": func() error {
			_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			return err
		},
		"GenerateDataKey": func() error {
			_, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: k.KeyMetadata.Arn, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
			return err
		},
	}
	for _, name := range []string{"Encrypt1KiB", "Decrypt1KiB", "GenerateDataKey"} {
		for _, clients := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/clients=%d", name, clients), func(b *testing.B) {
				cur = b
				runConcurrent(b, clients, ops[name])
			})
		}
	}
}

func runConcurrent(b *testing.B, clients int, op func() error) {
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	per := (b.N + clients - 1) / clients
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[c] = make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				if err := op(); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[min(len(all)-1, len(all)*99/100)].Microseconds())/1000, "p99-ms")
}
