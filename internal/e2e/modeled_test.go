package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// debianBackupModel is botocore's AWS Backup model as Debian's AWS CLI
// v2 (package awscli, installed by scripts/test-deps.sh) ships it.
const debianBackupModel = "/usr/lib/python3/dist-packages/awscli/botocore/data/backup/2018-11-15/service-2.json"

// loadBackupModel merges the Backup models on the machine (Debian's CLI
// v2 and the botocore of the machine's python3, often newer): a member is
// modeled when any of them has it.
func loadBackupModel(t *testing.T) *model {
	t.Helper()
	paths := []string{debianBackupModel}
	if out, err := exec.Command("python3", "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output(); err == nil {
		paths = append(paths, filepath.Join(strings.TrimSpace(string(out)), "data", "backup", "2018-11-15", "service-2.json.gz"),
			filepath.Join(strings.TrimSpace(string(out)), "data", "backup", "2018-11-15", "service-2.json"))
	}
	var merged *model
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		var m model
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if merged == nil {
			merged = &m
			continue
		}
		for op, o := range m.Operations {
			merged.Operations[op] = o
		}
		for name, s := range m.Shapes {
			old, ok := merged.Shapes[name]
			if ok && old.Members != nil {
				maps.Copy(old.Members, s.Members)
				s = old
			}
			merged.Shapes[name] = s
		}
	}
	if merged == nil {
		testenv.Missing(t, "botocore's backup model (looked at %s)", strings.Join(paths, ", "))
	}
	return merged
}

type model struct {
	Operations map[string]struct {
		Output *struct{ Shape string }
	}
	Shapes map[string]shape
}

type member struct{ Shape, Location, LocationName string }

type shape struct {
	Type    string
	Members map[string]member
	Member  *struct{ Shape string }
	Value   *struct{ Shape string }
}

// unmodeled lists the members of v, a JSON body, that shape name does
// not have, as paths.
func (m *model) unmodeled(path, name string, v any) []string {
	s := m.Shapes[name]
	var out []string
	switch s.Type {
	case "structure":
		obj, _ := v.(map[string]any)
		for k, val := range obj {
			mem, ok := s.Members[k]
			if !ok || mem.Location != "" {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, m.unmodeled(path+"."+k, mem.Shape, val)...)
		}
	case "list":
		list, _ := v.([]any)
		for i, e := range list {
			out = append(out, m.unmodeled(fmt.Sprintf("%s[%d]", path, i), s.Member.Shape, e)...)
		}
	case "map":
		obj, _ := v.(map[string]any)
		for k, e := range obj {
			out = append(out, m.unmodeled(path+"."+k, s.Value.Shape, e)...)
		}
	}
	sort.Strings(out)
	return out
}

// recorder keeps the body of the last response.
type recorder struct {
	next aws.HTTPClient
	last []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil {
		return resp, err
	}
	r.last, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(r.last))
	return resp, err
}

// TestBackupResponsesModeled: the Backup API's list and describe
// responses carry only the members botocore's model gives their output
// shapes (issue 12 item 13: StorageClass in RecoveryPointByBackupVault).
func TestBackupResponsesModeled(t *testing.T) {
	m := loadBackupModel(t)
	if m == nil {
		return
	}
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	vaultARN := w.src.vault(t, "source-vault", key)
	copyVault := w.src.vault(t, "copy-vault", key)
	db := w.src.createDB(t, "orders-db", key, 10)
	bj := w.src.backupJob(t, "source-vault", db, role)
	rp := aws.ToString(bj.RecoveryPointArn)
	cj := w.src.copyJob(t, rp, "source-vault", copyVault, role)
	rj := w.src.restoreJob(t, rp, role, map[string]string{"DBInstanceIdentifier": "orders-restored"})
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{
		BackupPlan: planInput("plan", rule("daily", "source-vault", func(r *backuptypes.BackupRuleInput) {
			r.Lifecycle = &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(30)}
		}))}))
	sel := must[*backup.CreateBackupSelectionOutput](t)(w.src.Backup.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId,
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("all"), IamRoleArn: aws.String(role), Resources: []string{db}}}))
	hold := must[*backup.CreateLegalHoldOutput](t)(w.src.Backup.CreateLegalHold(ctx, &backup.CreateLegalHoldInput{Title: aws.String("audit"), Description: aws.String("audit"),
		RecoveryPointSelection: &backuptypes.RecoveryPointSelection{VaultNames: []string{"source-vault"}}}))
	w.src.allowOrgCopies(t, "source-vault", w.orgID(t))
	canceled := must[*backup.CreateLegalHoldOutput](t)(w.src.Backup.CreateLegalHold(ctx, &backup.CreateLegalHoldInput{Title: aws.String("old"), Description: aws.String("old"),
		RecoveryPointSelection: &backuptypes.RecoveryPointSelection{VaultNames: []string{"copy-vault"}}}))
	must[*backup.CancelLegalHoldOutput](t)(w.src.Backup.CancelLegalHold(ctx, &backup.CancelLegalHoldInput{LegalHoldId: canceled.LegalHoldId,
		CancelDescription: aws.String("settled"), RetainRecordInDays: aws.Int64(10)}))

	rec := &recorder{}
	cfg := w.c.AWSConfig(t, w.c.Profile(t, "source"))
	rec.next = cfg.HTTPClient
	if rec.next == nil {
		rec.next = http.DefaultClient
	}
	cfg.HTTPClient = rec
	c := backup.NewFromConfig(cfg)
	vault := aws.String("source-vault")
	for op, call := range map[string]func() error{
		"DescribeBackupVault": func() error {
			return second(c.DescribeBackupVault(ctx, &backup.DescribeBackupVaultInput{BackupVaultName: vault}))
		},
		"ListBackupVaults": func() error { return second(c.ListBackupVaults(ctx, &backup.ListBackupVaultsInput{})) },
		"GetBackupVaultAccessPolicy": func() error {
			return second(c.GetBackupVaultAccessPolicy(ctx, &backup.GetBackupVaultAccessPolicyInput{BackupVaultName: vault}))
		},
		"DescribeRecoveryPoint": func() error {
			return second(c.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: vault, RecoveryPointArn: &rp}))
		},
		"ListRecoveryPointsByBackupVault": func() error {
			return second(c.ListRecoveryPointsByBackupVault(ctx, &backup.ListRecoveryPointsByBackupVaultInput{BackupVaultName: vault}))
		},
		"ListRecoveryPointsByResource": func() error {
			return second(c.ListRecoveryPointsByResource(ctx, &backup.ListRecoveryPointsByResourceInput{ResourceArn: &db}))
		},
		"GetRecoveryPointRestoreMetadata": func() error {
			return second(c.GetRecoveryPointRestoreMetadata(ctx, &backup.GetRecoveryPointRestoreMetadataInput{BackupVaultName: vault, RecoveryPointArn: &rp}))
		},
		"DescribeBackupJob": func() error {
			return second(c.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: bj.BackupJobId}))
		},
		"ListBackupJobs": func() error { return second(c.ListBackupJobs(ctx, &backup.ListBackupJobsInput{})) },
		"DescribeCopyJob": func() error {
			return second(c.DescribeCopyJob(ctx, &backup.DescribeCopyJobInput{CopyJobId: cj.CopyJobId}))
		},
		"ListCopyJobs": func() error { return second(c.ListCopyJobs(ctx, &backup.ListCopyJobsInput{})) },
		"DescribeRestoreJob": func() error {
			return second(c.DescribeRestoreJob(ctx, &backup.DescribeRestoreJobInput{RestoreJobId: rj.RestoreJobId}))
		},
		"ListRestoreJobs":        func() error { return second(c.ListRestoreJobs(ctx, &backup.ListRestoreJobsInput{})) },
		"ListProtectedResources": func() error { return second(c.ListProtectedResources(ctx, &backup.ListProtectedResourcesInput{})) },
		"DescribeProtectedResource": func() error {
			return second(c.DescribeProtectedResource(ctx, &backup.DescribeProtectedResourceInput{ResourceArn: &db}))
		},
		"GetBackupPlan": func() error {
			return second(c.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: plan.BackupPlanId}))
		},
		"ListBackupPlans": func() error { return second(c.ListBackupPlans(ctx, &backup.ListBackupPlansInput{})) },
		"ListBackupPlanVersions": func() error {
			return second(c.ListBackupPlanVersions(ctx, &backup.ListBackupPlanVersionsInput{BackupPlanId: plan.BackupPlanId}))
		},
		"GetBackupSelection": func() error {
			return second(c.GetBackupSelection(ctx, &backup.GetBackupSelectionInput{BackupPlanId: plan.BackupPlanId, SelectionId: sel.SelectionId}))
		},
		"ListBackupSelections": func() error {
			return second(c.ListBackupSelections(ctx, &backup.ListBackupSelectionsInput{BackupPlanId: plan.BackupPlanId}))
		},
		"GetLegalHold": func() error {
			return second(c.GetLegalHold(ctx, &backup.GetLegalHoldInput{LegalHoldId: hold.LegalHoldId}))
		},
		"ListLegalHolds": func() error { return second(c.ListLegalHolds(ctx, &backup.ListLegalHoldsInput{})) },
		"ListRecoveryPointsByLegalHold": func() error {
			return second(c.ListRecoveryPointsByLegalHold(ctx, &backup.ListRecoveryPointsByLegalHoldInput{LegalHoldId: hold.LegalHoldId}))
		},
		"DescribeGlobalSettings":  func() error { return second(c.DescribeGlobalSettings(ctx, &backup.DescribeGlobalSettingsInput{})) },
		"DescribeRegionSettings":  func() error { return second(c.DescribeRegionSettings(ctx, &backup.DescribeRegionSettingsInput{})) },
		"ListTags":                func() error { return second(c.ListTags(ctx, &backup.ListTagsInput{ResourceArn: aws.String(vaultARN)})) },
		"ListBackupPlanTemplates": func() error { return second(c.ListBackupPlanTemplates(ctx, &backup.ListBackupPlanTemplatesInput{})) },
		"ExportBackupPlanTemplate": func() error {
			return second(c.ExportBackupPlanTemplate(ctx, &backup.ExportBackupPlanTemplateInput{BackupPlanId: plan.BackupPlanId}))
		},
		"UpdateRecoveryPointLifecycle": func() error {
			return second(c.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("copy-vault"),
				RecoveryPointArn: cj.DestinationRecoveryPointArn, Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(40)}}))
		},
		"ListBackupJobSummaries": func() error { return second(c.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{})) },
	} {
		if err := call(); err != nil {
			if errCode(err) == "UnknownOperationException" || errCode(err) == "UnsupportedOperation" {
				continue // not served by coffer: nothing to check
			}
			t.Errorf("%s: %v", op, err)
			continue
		}
		var body any
		if len(bytes.TrimSpace(rec.last)) == 0 {
			continue
		}
		if err := json.Unmarshal(rec.last, &body); err != nil {
			t.Errorf("%s: body %q: %v", op, rec.last, err)
			continue
		}
		if extra := m.unmodeled(op, m.Operations[op].Output.Shape, body); len(extra) > 0 {
			t.Errorf("%s answers members its output shape %s does not have: %v", op, m.Operations[op].Output.Shape, extra)
		}
	}
}
