package iam

import (
	"context"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// passwordOps registers the console-password operations: login
// profiles, ChangePassword and the account password policy.
func (a api) passwordOps(s *protocol.QueryService) {
	protocol.QueryOperation(s, "CreateLoginProfile", a.createLoginProfile)
	protocol.QueryOperation(s, "GetLoginProfile", a.getLoginProfile)
	protocol.QueryAction(s, "UpdateLoginProfile", a.updateLoginProfile)
	protocol.QueryAction(s, "DeleteLoginProfile", a.deleteLoginProfile)
	protocol.QueryAction(s, "ChangePassword", a.changePassword)
	protocol.QueryAction(s, "UpdateAccountPasswordPolicy", a.updateAccountPasswordPolicy)
	protocol.QueryOperation(s, "GetAccountPasswordPolicy", a.getAccountPasswordPolicy)
	protocol.QueryAction(s, "DeleteAccountPasswordPolicy", a.deleteAccountPasswordPolicy)
}

type loginProfileXML struct {
	UserName              string
	CreateDate            string
	PasswordResetRequired bool
}

func loginProfileOut(lp identity.LoginProfile) any {
	return struct{ LoginProfile loginProfileXML }{loginProfileXML{lp.UserName, isoTime(lp.Created), lp.PasswordResetRequired}}
}

func (a api) createLoginProfile(ctx context.Context, in *struct {
	UserName, Password    string
	PasswordResetRequired bool
}) (any, error) {
	lp, err := a.ids.CreateLoginProfile(ctx, in.UserName, in.Password, in.PasswordResetRequired)
	if err != nil {
		return nil, err
	}
	return loginProfileOut(lp), nil
}

func (a api) getLoginProfile(ctx context.Context, in *struct{ UserName string }) (any, error) {
	lp, err := a.ids.GetLoginProfile(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	return loginProfileOut(lp), nil
}

func (a api) updateLoginProfile(ctx context.Context, in *struct {
	UserName              string
	Password              *string
	PasswordResetRequired *bool
}) error {
	return a.ids.UpdateLoginProfile(ctx, in.UserName, in.Password, in.PasswordResetRequired)
}

func (a api) deleteLoginProfile(ctx context.Context, in *struct{ UserName string }) error {
	return a.ids.DeleteLoginProfile(ctx, in.UserName)
}

func (a api) changePassword(ctx context.Context, in *struct{ OldPassword, NewPassword string }) error {
	return a.ids.ChangePassword(ctx, in.OldPassword, in.NewPassword)
}

// updateAccountPasswordPolicy decodes the input straight into the
// domain's, whose fields are the model's members.
func (a api) updateAccountPasswordPolicy(ctx context.Context, in *identity.PasswordPolicyInput) error {
	return a.ids.UpdateAccountPasswordPolicy(ctx, *in)
}

func (a api) getAccountPasswordPolicy(ctx context.Context, _ *struct{}) (any, error) {
	p, err := a.ids.GetAccountPasswordPolicy(ctx)
	if err != nil {
		return nil, err
	}
	type policyXML struct {
		MinimumPasswordLength      int
		RequireSymbols             bool
		RequireNumbers             bool
		RequireUppercaseCharacters bool
		RequireLowercaseCharacters bool
		AllowUsersToChangePassword bool
		ExpirePasswords            bool
		MaxPasswordAge             int `xml:",omitempty"`
		PasswordReusePrevention    int `xml:",omitempty"`
		HardExpiry                 bool
	}
	return struct{ PasswordPolicy policyXML }{policyXML{p.MinimumPasswordLength, p.RequireSymbols, p.RequireNumbers, p.RequireUppercaseCharacters,
		p.RequireLowercaseCharacters, p.AllowUsersToChangePassword, p.ExpirePasswords(), p.MaxPasswordAge, p.PasswordReusePrevention, p.HardExpiry}}, nil
}

func (a api) deleteAccountPasswordPolicy(ctx context.Context, _ *struct{}) error {
	return a.ids.DeleteAccountPasswordPolicy(ctx)
}
