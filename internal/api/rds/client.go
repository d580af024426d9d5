package rds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// RegisterRequest is coffer's RegisterDBInstance call, made by `coffer db
// register`: the AWS SDKs do not know the operation, so it is signed and
// sent here.
type RegisterRequest struct {
	Identifier string
	Engine     string
	// ConnectionString is a postgres:// URL or a SQLite file's absolute
	// path. It is sent in the signed body only.
	ConnectionString string
	KMSKeyID         string
	Tags             map[string]string
}

// Registered is the instance RegisterDBInstance recorded.
type Registered struct {
	DBInstanceIdentifier string
	DBInstanceArn        string
	DBInstanceStatus     string
	Engine               string
	EngineVersion        string
	DBName               string
	MasterUsername       string
	KmsKeyId             string
	StorageEncrypted     bool
	Endpoint             struct {
		Address string
		Port    int
	}
}

// RegisterError is an error answer of the service.
type RegisterError struct {
	Status  int
	Code    string
	Message string
}

func (e *RegisterError) Error() string { return e.Code + ": " + e.Message }

// Register calls RegisterDBInstance on the endpoint cfg points at
// (cfg.BaseEndpoint), signed with cfg's credentials for cfg.Region.
func Register(ctx context.Context, cfg aws.Config, client *http.Client, req RegisterRequest) (*Registered, error) {
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint == "" {
		return nil, fmt.Errorf("no endpoint: give --endpoint-url (or AWS_ENDPOINT_URL) pointing at coffer")
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no region: give --region or set one in the AWS profile")
	}
	form := url.Values{
		"Action":               {"RegisterDBInstance"},
		"Version":              {"2014-10-31"},
		"DBInstanceIdentifier": {req.Identifier},
		"Engine":               {req.Engine},
		"ConnectionString":     {req.ConnectionString},
	}
	if req.KMSKeyID != "" {
		form.Set("KmsKeyId", req.KMSKeyID)
	}
	keys := make([]string, 0, len(req.Tags))
	for k := range req.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		n := strconv.Itoa(i + 1)
		form.Set("Tags.Tag."+n+".Key", k)
		form.Set("Tags.Tag."+n+".Value", req.Tags[k])
	}
	body := []byte(form.Encode())
	endpoint := strings.TrimRight(*cfg.BaseEndpoint, "/") + "/"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, hreq, hex.EncodeToString(sum[:]), "rds", cfg.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign the request: %w", err)
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("call coffer at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if xml.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return nil, &RegisterError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		return nil, &RegisterError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	var out struct {
		Result struct {
			DBInstance Registered
		} `xml:"RegisterDBInstanceResult"`
	}
	if err := xml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("read coffer's answer: %w", err)
	}
	return &out.Result.DBInstance, nil
}
