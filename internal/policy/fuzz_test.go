package policy

import (
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		carlosIdentity, carlosLogsBucket, kmsDefaultKeyPolicy, kmsExternalKeyPolicy, vaultOrgPolicy, vaultOUPolicy,
		notPrincipalBucket, notActionDenyNoMFA, notResourceDeny, homeFolder, homeFolderLegacy, teamFolder, starFolder,
		scpRegion, backupTrust, crossTrust, publicRead,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["a*","${*}${?}${$}"]},"NumericLessThan":{"s3:max-keys":10},"Null":{"x:y":true}}}}`,
		`{"Statement":[]}`, `{}`, `[]`, `null`, `"x"`, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${aws:username, 'x'}"}]}`,
	} {
		f.Add(seed)
	}
	reqs := []Request{
		{Principal: bob, Action: "s3:GetObject", Resource: "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/x", Context: map[string][]string{"aws:TagKeys": {"a", "b"}, "s3:max-keys": {"5"}}},
		{Principal: auditB, Action: "kms:Decrypt", Resource: kmsKey},
		{Principal: backupSvc, Action: "sts:AssumeRole", Resource: roleArn},
		{Principal: anonymous, Action: "backup:CopyIntoBackupVault", Resource: vaultArn},
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, kind := range []Kind{KindAny, KindIdentity, KindResource, KindTrust} {
			p, err := Parse([]byte(doc), ParseOptions{Kind: kind, MaxSize: 4096})
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Message == "" {
					t.Fatalf("Parse error %T %v is not a *ValidationError with a message", err, err)
				}
				continue
			}
			_ = p.PrincipalARNs()
			for _, req := range reqs {
				ps := PolicySet{Identity: []NamedPolicy{{Name: "p", Policy: p}}, Resource: []NamedPolicy{{Name: "p", Policy: p}}}
				d := Evaluate(req, ps)
				_ = d.Message(req)
				_ = d.String()
			}
		}
	})
}
