// Package kms is the API adapter for AWS KMS (awsJson1_1, X-Amz-Target
// TrentService.<Operation>): it decodes requests into the domain's
// inputs, calls *kms.Service with the caller and region in the context,
// and shapes the answers (timestamps as epoch seconds, nulls omitted).
package kms

import (
	"context"

	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// New returns the KMS endpoint for svc.
func New(svc *kms.Service) *protocol.JSONService {
	a := &adapter{svc}
	return &protocol.JSONService{
		Name:          "kms",
		TargetPrefix:  "TrentService",
		ContentType:   "application/x-amz-json-1.1",
		Model:         awsmodel.Load("kms"),
		ValidateInput: true,
		Ops: map[string]protocol.JSONOp{
			"CreateKey":                           protocol.JSONHandler(a.createKey),
			"DescribeKey":                         protocol.JSONHandler(a.describeKey),
			"ListKeys":                            protocol.JSONHandler(svc.ListKeys),
			"UpdateKeyDescription":                protocol.JSONHandler(empty(svc.UpdateKeyDescription)),
			"EnableKey":                           protocol.JSONHandler(empty(svc.EnableKey)),
			"DisableKey":                          protocol.JSONHandler(empty(svc.DisableKey)),
			"ScheduleKeyDeletion":                 protocol.JSONHandler(a.scheduleKeyDeletion),
			"CancelKeyDeletion":                   protocol.JSONHandler(a.cancelKeyDeletion),
			"GetKeyPolicy":                        protocol.JSONHandler(a.getKeyPolicy),
			"PutKeyPolicy":                        protocol.JSONHandler(empty(svc.PutKeyPolicy)),
			"ListKeyPolicies":                     protocol.JSONHandler(a.listKeyPolicies),
			"CreateAlias":                         protocol.JSONHandler(empty(svc.CreateAlias)),
			"UpdateAlias":                         protocol.JSONHandler(empty(svc.UpdateAlias)),
			"DeleteAlias":                         protocol.JSONHandler(empty(svc.DeleteAlias)),
			"ListAliases":                         protocol.JSONHandler(a.listAliases),
			"Encrypt":                             protocol.JSONHandler(svc.Encrypt),
			"Decrypt":                             protocol.JSONHandler(svc.Decrypt),
			"ReEncrypt":                           protocol.JSONHandler(svc.ReEncrypt),
			"GenerateDataKey":                     protocol.JSONHandler(svc.GenerateDataKey),
			"GenerateDataKeyWithoutPlaintext":     protocol.JSONHandler(svc.GenerateDataKeyWithoutPlaintext),
			"GenerateDataKeyPair":                 protocol.JSONHandler(svc.GenerateDataKeyPair),
			"GenerateDataKeyPairWithoutPlaintext": protocol.JSONHandler(svc.GenerateDataKeyPairWithoutPlaintext),
			"GenerateRandom":                      protocol.JSONHandler(a.generateRandom),
			"Sign":                                protocol.JSONHandler(svc.Sign),
			"Verify":                              protocol.JSONHandler(svc.Verify),
			"GetPublicKey":                        protocol.JSONHandler(svc.GetPublicKey),
			"GenerateMac":                         protocol.JSONHandler(svc.GenerateMac),
			"VerifyMac":                           protocol.JSONHandler(svc.VerifyMac),
			"EnableKeyRotation":                   protocol.JSONHandler(empty(svc.EnableKeyRotation)),
			"DisableKeyRotation":                  protocol.JSONHandler(empty(svc.DisableKeyRotation)),
			"GetKeyRotationStatus":                protocol.JSONHandler(a.getKeyRotationStatus),
			"RotateKeyOnDemand":                   protocol.JSONHandler(a.rotateKeyOnDemand),
			"ListKeyRotations":                    protocol.JSONHandler(a.listKeyRotations),
			"CreateGrant":                         protocol.JSONHandler(svc.CreateGrant),
			"ListGrants":                          protocol.JSONHandler(a.listGrants),
			"ListRetirableGrants":                 protocol.JSONHandler(a.listRetirableGrants),
			"RetireGrant":                         protocol.JSONHandler(empty(svc.RetireGrant)),
			"RevokeGrant":                         protocol.JSONHandler(empty(svc.RevokeGrant)),
			"TagResource":                         protocol.JSONHandler(empty(svc.TagResource)),
			"UntagResource":                       protocol.JSONHandler(empty(svc.UntagResource)),
			"ListResourceTags":                    protocol.JSONHandler(a.listResourceTags),
		},
	}
}

type adapter struct{ svc *kms.Service }

type none struct{}

// empty adapts an operation whose answer is empty.
func empty[In any](fn func(context.Context, *In) error) func(context.Context, *In) (*none, error) {
	return func(ctx context.Context, in *In) (*none, error) {
		if err := fn(ctx, in); err != nil {
			return nil, err
		}
		return &none{}, nil
	}
}

// keyMetadata is KeyMetadata on the wire.
type keyMetadata struct {
	AWSAccountId                string
	KeyId                       string
	Arn                         string
	CreationDate                protocol.Epoch
	Enabled                     bool
	Description                 string
	KeyUsage                    string
	KeyState                    string
	DeletionDate                *protocol.Epoch `json:",omitempty"`
	Origin                      string
	KeyManager                  string
	CustomerMasterKeySpec       string
	KeySpec                     string
	EncryptionAlgorithms        []string `json:",omitempty"`
	SigningAlgorithms           []string `json:",omitempty"`
	MacAlgorithms               []string `json:",omitempty"`
	MultiRegion                 bool
	PendingDeletionWindowInDays int    `json:",omitempty"`
	CurrentKeyMaterialId        string `json:",omitempty"`
}

type keyMetadataOutput struct{ KeyMetadata keyMetadata }

func wireMetadata(m *kms.KeyMetadata) *keyMetadataOutput {
	return &keyMetadataOutput{keyMetadata{
		AWSAccountId: m.AWSAccountId, KeyId: m.KeyId, Arn: m.Arn, CreationDate: protocol.Epoch(m.CreationDate), Enabled: m.Enabled,
		Description: m.Description, KeyUsage: m.KeyUsage, KeyState: m.KeyState, DeletionDate: protocol.EpochPtr(m.DeletionDate),
		Origin: m.Origin, KeyManager: m.KeyManager, CustomerMasterKeySpec: m.KeySpec, KeySpec: m.KeySpec,
		EncryptionAlgorithms: m.EncryptionAlgorithms, SigningAlgorithms: m.SigningAlgorithms, MacAlgorithms: m.MacAlgorithms,
		MultiRegion: m.MultiRegion, PendingDeletionWindowInDays: m.PendingDeletionWindowInDays, CurrentKeyMaterialId: m.CurrentKeyMaterialId,
	}}
}

func (a *adapter) createKey(ctx context.Context, in *kms.CreateKeyInput) (*keyMetadataOutput, error) {
	m, err := a.svc.CreateKey(ctx, in)
	if err != nil {
		return nil, err
	}
	return wireMetadata(m), nil
}

func (a *adapter) describeKey(ctx context.Context, in *kms.KeyInput) (*keyMetadataOutput, error) {
	m, err := a.svc.DescribeKey(ctx, in)
	if err != nil {
		return nil, err
	}
	return wireMetadata(m), nil
}

type scheduleOutput struct {
	KeyId               string
	DeletionDate        protocol.Epoch
	KeyState            string
	PendingWindowInDays int
}

func (a *adapter) scheduleKeyDeletion(ctx context.Context, in *kms.ScheduleKeyDeletionInput) (*scheduleOutput, error) {
	out, err := a.svc.ScheduleKeyDeletion(ctx, in)
	if err != nil {
		return nil, err
	}
	return &scheduleOutput{out.KeyId, protocol.Epoch(out.DeletionDate), out.KeyState, out.PendingWindowInDays}, nil
}

type keyIDOutput struct{ KeyId string }

func (a *adapter) cancelKeyDeletion(ctx context.Context, in *kms.KeyInput) (*keyIDOutput, error) {
	arn, err := a.svc.CancelKeyDeletion(ctx, in)
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{arn}, nil
}

func (a *adapter) rotateKeyOnDemand(ctx context.Context, in *kms.KeyInput) (*keyIDOutput, error) {
	arn, err := a.svc.RotateKeyOnDemand(ctx, in)
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{arn}, nil
}

type policyOutput struct{ Policy, PolicyName string }

func (a *adapter) getKeyPolicy(ctx context.Context, in *kms.KeyPolicyInput) (*policyOutput, error) {
	doc, err := a.svc.GetKeyPolicy(ctx, in)
	if err != nil {
		return nil, err
	}
	return &policyOutput{doc, "default"}, nil
}

type policyNamesOutput struct {
	PolicyNames []string
	Truncated   bool
}

func (a *adapter) listKeyPolicies(ctx context.Context, in *kms.KeyInput) (*policyNamesOutput, error) {
	names, err := a.svc.ListKeyPolicies(ctx, in)
	if err != nil {
		return nil, err
	}
	return &policyNamesOutput{PolicyNames: names}, nil
}

type aliasEntry struct {
	AliasName       string
	AliasArn        string
	TargetKeyId     string          `json:",omitempty"`
	CreationDate    *protocol.Epoch `json:",omitempty"`
	LastUpdatedDate *protocol.Epoch `json:",omitempty"`
}

type aliasesOutput struct {
	Aliases    []aliasEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func (a *adapter) listAliases(ctx context.Context, in *kms.ListAliasesInput) (*aliasesOutput, error) {
	out, err := a.svc.ListAliases(ctx, in)
	if err != nil {
		return nil, err
	}
	w := &aliasesOutput{Aliases: []aliasEntry{}, NextMarker: out.NextMarker, Truncated: out.Truncated}
	for _, e := range out.Aliases {
		w.Aliases = append(w.Aliases, aliasEntry{e.AliasName, e.AliasArn, e.TargetKeyId, protocol.EpochPtr(e.CreationDate), protocol.EpochPtr(e.LastUpdatedDate)})
	}
	return w, nil
}

type randomOutput struct{ Plaintext []byte }

func (a *adapter) generateRandom(ctx context.Context, in *kms.GenerateRandomInput) (*randomOutput, error) {
	b, err := a.svc.GenerateRandom(ctx, in)
	if err != nil {
		return nil, err
	}
	return &randomOutput{b}, nil
}

type rotationStatusOutput struct {
	KeyId                string
	KeyRotationEnabled   bool
	RotationPeriodInDays int             `json:",omitempty"`
	NextRotationDate     *protocol.Epoch `json:",omitempty"`
}

func (a *adapter) getKeyRotationStatus(ctx context.Context, in *kms.KeyInput) (*rotationStatusOutput, error) {
	out, err := a.svc.GetKeyRotationStatus(ctx, in)
	if err != nil {
		return nil, err
	}
	return &rotationStatusOutput{out.KeyId, out.KeyRotationEnabled, out.RotationPeriodInDays, protocol.EpochPtr(out.NextRotationDate)}, nil
}

type rotationEntry struct {
	KeyId        string
	RotationDate protocol.Epoch
	RotationType string
}

type rotationsOutput struct {
	Rotations  []rotationEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func (a *adapter) listKeyRotations(ctx context.Context, in *kms.ListKeyRotationsInput) (*rotationsOutput, error) {
	out, err := a.svc.ListKeyRotations(ctx, in)
	if err != nil {
		return nil, err
	}
	w := &rotationsOutput{Rotations: []rotationEntry{}, NextMarker: out.NextMarker, Truncated: out.Truncated}
	for _, r := range out.Rotations {
		w.Rotations = append(w.Rotations, rotationEntry{r.KeyId, protocol.Epoch(r.RotationDate), r.RotationType})
	}
	return w, nil
}

type grantEntry struct {
	KeyId             string
	GrantId           string
	Name              string `json:",omitempty"`
	CreationDate      protocol.Epoch
	GranteePrincipal  string
	RetiringPrincipal string `json:",omitempty"`
	IssuingAccount    string
	Operations        []string
	Constraints       *kms.GrantConstraints `json:",omitempty"`
}

type grantsOutput struct {
	Grants     []grantEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func wireGrants(out *kms.ListGrantsOutput) *grantsOutput {
	w := &grantsOutput{Grants: []grantEntry{}, NextMarker: out.NextMarker, Truncated: out.Truncated}
	for _, g := range out.Grants {
		w.Grants = append(w.Grants, grantEntry{g.KeyId, g.GrantId, g.Name, protocol.Epoch(g.CreationDate), g.GranteePrincipal,
			g.RetiringPrincipal, g.IssuingAccount, g.Operations, g.Constraints})
	}
	return w
}

func (a *adapter) listGrants(ctx context.Context, in *kms.ListGrantsInput) (*grantsOutput, error) {
	out, err := a.svc.ListGrants(ctx, in)
	if err != nil {
		return nil, err
	}
	return wireGrants(out), nil
}

func (a *adapter) listRetirableGrants(ctx context.Context, in *kms.ListRetirableGrantsInput) (*grantsOutput, error) {
	out, err := a.svc.ListRetirableGrants(ctx, in)
	if err != nil {
		return nil, err
	}
	return wireGrants(out), nil
}

type tagsOutput struct {
	Tags      []kms.Tag
	Truncated bool
}

func (a *adapter) listResourceTags(ctx context.Context, in *kms.KeyInput) (*tagsOutput, error) {
	tags, err := a.svc.ListResourceTags(ctx, in)
	if err != nil {
		return nil, err
	}
	return &tagsOutput{Tags: tags}, nil
}
