// Package organizations is the API adapter for AWS Organizations
// (awsJson1_1, X-Amz-Target AWSOrganizationsV20161128.<Op>).
package organizations

import (
	"context"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

type api struct{ ids *identity.Service }

// New returns the Organizations endpoint.
func New(ids *identity.Service) *protocol.JSONService {
	a := api{ids}
	return &protocol.JSONService{
		Name:         "organizations",
		TargetPrefix: "AWSOrganizationsV20161128",
		ContentType:  "application/x-amz-json-1.1",
		Model:        awsmodel.Load("organizations"),
		Ops: map[string]protocol.JSONOp{
			"CreateOrganization":                  protocol.JSONHandler(a.createOrganization),
			"DescribeOrganization":                protocol.JSONHandler(a.describeOrganization),
			"CreateAccount":                       protocol.JSONHandler(a.createAccount),
			"DescribeCreateAccountStatus":         protocol.JSONHandler(a.describeCreateAccountStatus),
			"DescribeAccount":                     protocol.JSONHandler(a.describeAccount),
			"ListAccounts":                        protocol.JSONHandler(a.listAccounts),
			"ListRoots":                           protocol.JSONHandler(a.listRoots),
			"CreateOrganizationalUnit":            protocol.JSONHandler(a.createOU),
			"ListOrganizationalUnitsForParent":    protocol.JSONHandler(a.listOUs),
			"ListAccountsForParent":               protocol.JSONHandler(a.listAccountsForParent),
			"MoveAccount":                         protocol.JSONHandler(a.moveAccount),
			"RemoveAccountFromOrganization":       protocol.JSONHandler(a.removeAccount),
			"EnableAWSServiceAccess":              protocol.JSONHandler(a.enableServiceAccess),
			"DisableAWSServiceAccess":             protocol.JSONHandler(a.disableServiceAccess),
			"ListAWSServiceAccessForOrganization": protocol.JSONHandler(a.listServiceAccess),
		},
	}
}

type empty struct{}

type policyTypeSummary struct{ Type, Status string }

type organization struct {
	Id                   string
	Arn                  string
	FeatureSet           string
	MasterAccountArn     string
	MasterAccountId      string
	MasterAccountEmail   string
	AvailablePolicyTypes []policyTypeSummary
}

type account struct {
	Id              string
	Arn             string
	Email           string
	Name            string
	Status          string
	State           string
	JoinedMethod    string
	JoinedTimestamp *protocol.Epoch `json:",omitempty"`
}

type root struct {
	Id          string
	Arn         string
	Name        string
	PolicyTypes []policyTypeSummary
}

type ou struct{ Id, Arn, Name string }

type createAccountStatus struct {
	Id                 string
	AccountName        string
	State              string
	RequestedTimestamp *protocol.Epoch `json:",omitempty"`
	CompletedTimestamp *protocol.Epoch `json:",omitempty"`
	AccountId          string          `json:",omitempty"`
	FailureReason      string          `json:",omitempty"`
}

type tag struct{ Key, Value string }

func orgOut(o identity.Organization) organization {
	return organization{o.ID, o.ARN, o.FeatureSet, o.MasterAccountARN, o.MasterAccountID, o.MasterAccountEmail, []policyTypeSummary{}}
}

func accountOut(a identity.Account) account {
	return account{Id: a.ID, Arn: a.ARN, Email: a.Email, Name: a.Name, Status: a.Status, State: a.Status, JoinedMethod: a.JoinedMethod, JoinedTimestamp: protocol.EpochPtr(a.JoinedAt)}
}

func statusOut(s identity.CreateAccountStatus) createAccountStatus {
	return createAccountStatus{s.ID, s.AccountName, s.State, protocol.EpochPtr(s.Requested), protocol.EpochPtr(s.Completed), s.AccountID, s.FailureReason}
}

func invalid(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidInputException", format, args...)
}

// page applies NextToken and MaxResults (1-20).
func page[T any](items []T, token string, max int) ([]T, *string, error) {
	if max < 0 || max > 20 {
		return nil, nil, invalid("MaxResults must be between 1 and 20, not %d.", max)
	}
	p, next, ok := paginate.Page(items, token, max)
	if !ok {
		return nil, nil, invalid("The NextToken is not valid (INVALID_PAGINATION_TOKEN).")
	}
	if next == "" {
		return p, nil, nil
	}
	return p, &next, nil
}

func (a api) createOrganization(ctx context.Context, in *struct{ FeatureSet string }) (*struct{ Organization organization }, error) {
	o, err := a.ids.CreateOrganization(ctx, in.FeatureSet)
	if err != nil {
		return nil, err
	}
	return &struct{ Organization organization }{orgOut(o)}, nil
}

func (a api) describeOrganization(ctx context.Context, _ *empty) (*struct{ Organization organization }, error) {
	o, err := a.ids.DescribeOrganization(ctx)
	if err != nil {
		return nil, err
	}
	return &struct{ Organization organization }{orgOut(o)}, nil
}

type createAccountIn struct {
	Email, AccountName, RoleName, IamUserAccessToBilling string
	Tags                                                 []tag
}

func (a api) createAccount(ctx context.Context, in *createAccountIn) (*struct{ CreateAccountStatus createAccountStatus }, error) {
	if in.Email == "" || in.AccountName == "" {
		return nil, invalid("Email and AccountName are required.")
	}
	var tags []identity.Tag
	for _, t := range in.Tags {
		tags = append(tags, identity.Tag{Key: t.Key, Value: t.Value})
	}
	s, err := a.ids.CreateAccount(ctx, in.Email, in.AccountName, in.RoleName, tags)
	if err != nil {
		return nil, err
	}
	return &struct{ CreateAccountStatus createAccountStatus }{statusOut(s)}, nil
}

func (a api) describeCreateAccountStatus(ctx context.Context, in *struct{ CreateAccountRequestId string }) (*struct{ CreateAccountStatus createAccountStatus }, error) {
	if in.CreateAccountRequestId == "" {
		return nil, invalid("CreateAccountRequestId is required.")
	}
	s, err := a.ids.DescribeCreateAccountStatus(ctx, in.CreateAccountRequestId)
	if err != nil {
		return nil, err
	}
	return &struct{ CreateAccountStatus createAccountStatus }{statusOut(s)}, nil
}

func (a api) describeAccount(ctx context.Context, in *struct{ AccountId string }) (*struct{ Account account }, error) {
	acc, err := a.ids.DescribeAccount(ctx, in.AccountId)
	if err != nil {
		return nil, err
	}
	return &struct{ Account account }{accountOut(acc)}, nil
}

type listIn struct {
	NextToken  string
	MaxResults int
}

type accountsOut struct {
	Accounts  []account
	NextToken *string `json:",omitempty"`
}

func accountsPage(as []identity.Account, in listIn) (*accountsOut, error) {
	p, next, err := page(as, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &accountsOut{Accounts: []account{}, NextToken: next}
	for _, a := range p {
		out.Accounts = append(out.Accounts, accountOut(a))
	}
	return out, nil
}

func (a api) listAccounts(ctx context.Context, in *listIn) (*accountsOut, error) {
	as, err := a.ids.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	return accountsPage(as, *in)
}

func (a api) listRoots(ctx context.Context, in *listIn) (*struct {
	Roots     []root
	NextToken *string `json:",omitempty"`
}, error) {
	rs, err := a.ids.ListRoots(ctx)
	if err != nil {
		return nil, err
	}
	p, next, err := page(rs, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &struct {
		Roots     []root
		NextToken *string `json:",omitempty"`
	}{Roots: []root{}, NextToken: next}
	for _, r := range p {
		out.Roots = append(out.Roots, root{r.ID, r.ARN, r.Name, []policyTypeSummary{}})
	}
	return out, nil
}

func (a api) createOU(ctx context.Context, in *struct {
	ParentId, Name string
	Tags           []tag
}) (*struct{ OrganizationalUnit ou }, error) {
	if in.ParentId == "" || in.Name == "" {
		return nil, invalid("ParentId and Name are required.")
	}
	u, err := a.ids.CreateOrganizationalUnit(ctx, in.ParentId, in.Name)
	if err != nil {
		return nil, err
	}
	return &struct{ OrganizationalUnit ou }{ou{u.ID, u.ARN, u.Name}}, nil
}

type parentListIn struct {
	ParentId   string
	NextToken  string
	MaxResults int
}

func (a api) listOUs(ctx context.Context, in *parentListIn) (*struct {
	OrganizationalUnits []ou
	NextToken           *string `json:",omitempty"`
}, error) {
	us, err := a.ids.ListOrganizationalUnitsForParent(ctx, in.ParentId)
	if err != nil {
		return nil, err
	}
	p, next, err := page(us, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &struct {
		OrganizationalUnits []ou
		NextToken           *string `json:",omitempty"`
	}{OrganizationalUnits: []ou{}, NextToken: next}
	for _, u := range p {
		out.OrganizationalUnits = append(out.OrganizationalUnits, ou{u.ID, u.ARN, u.Name})
	}
	return out, nil
}

func (a api) listAccountsForParent(ctx context.Context, in *parentListIn) (*accountsOut, error) {
	as, err := a.ids.ListAccountsForParent(ctx, in.ParentId)
	if err != nil {
		return nil, err
	}
	return accountsPage(as, listIn{in.NextToken, in.MaxResults})
}

func (a api) moveAccount(ctx context.Context, in *struct{ AccountId, SourceParentId, DestinationParentId string }) (*empty, error) {
	return &empty{}, a.ids.MoveAccount(ctx, in.AccountId, in.SourceParentId, in.DestinationParentId)
}

func (a api) removeAccount(ctx context.Context, in *struct{ AccountId string }) (*empty, error) {
	return &empty{}, a.ids.RemoveAccountFromOrganization(ctx, in.AccountId)
}

func (a api) enableServiceAccess(ctx context.Context, in *struct{ ServicePrincipal string }) (*empty, error) {
	return &empty{}, a.ids.EnableAWSServiceAccess(ctx, in.ServicePrincipal)
}

func (a api) disableServiceAccess(ctx context.Context, in *struct{ ServicePrincipal string }) (*empty, error) {
	return &empty{}, a.ids.DisableAWSServiceAccess(ctx, in.ServicePrincipal)
}

type enabledServicePrincipal struct {
	ServicePrincipal string
	DateEnabled      *protocol.Epoch
}

func (a api) listServiceAccess(ctx context.Context, in *listIn) (*struct {
	EnabledServicePrincipals []enabledServicePrincipal
	NextToken                *string `json:",omitempty"`
}, error) {
	ss, err := a.ids.ListAWSServiceAccessForOrganization(ctx)
	if err != nil {
		return nil, err
	}
	p, next, err := page(ss, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &struct {
		EnabledServicePrincipals []enabledServicePrincipal
		NextToken                *string `json:",omitempty"`
	}{EnabledServicePrincipals: []enabledServicePrincipal{}, NextToken: next}
	for _, s := range p {
		out.EnabledServicePrincipals = append(out.EnabledServicePrincipals, enabledServicePrincipal{s.ServicePrincipal, protocol.EpochPtr(s.Enabled)})
	}
	return out, nil
}
