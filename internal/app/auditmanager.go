package app

import (
	"bytes"
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-dev/coffer/internal/auditmanager"
	"github.com/coffer-dev/coffer/internal/blob/s3"
	"github.com/coffer-dev/coffer/internal/storage"
)

// reportBuckets writes Backup Audit Manager's reports to the bucket a
// report plan names, at the S3 endpoint, with the credentials, of the
// region's storage settings.
type reportBuckets struct{ cfg storage.Config }

var _ auditmanager.Buckets = reportBuckets{}

func (b reportBuckets) Put(ctx context.Context, region, bucket, key, contentType string, body []byte) error {
	be, ok := b.cfg.Regions[region]
	if !ok || be.Type != storage.TypeS3 {
		return fmt.Errorf("region %s keeps its data in a directory, so coffer knows no S3 endpoint to deliver reports to: configure the region's storage as s3 (storage.regions.%s), whose endpoint and credentials reports use", region, region)
	}
	c := be.S3
	c.Bucket, c.Prefix = bucket, ""
	st, err := s3.Open(ctx, c)
	if err != nil {
		return err
	}
	_, err = st.Client().PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: contentType})
	return err
}
