package iam

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// passwordOps are the console-password operations: login profiles,
// ChangePassword and the account password policy.
func (a api) passwordOps() map[string]protocol.QueryOp {
	return map[string]protocol.QueryOp{
		"CreateLoginProfile":          a.createLoginProfile,
		"GetLoginProfile":             a.getLoginProfile,
		"UpdateLoginProfile":          a.updateLoginProfile,
		"DeleteLoginProfile":          a.deleteLoginProfile,
		"ChangePassword":              a.changePassword,
		"UpdateAccountPasswordPolicy": a.updateAccountPasswordPolicy,
		"GetAccountPasswordPolicy":    a.getAccountPasswordPolicy,
		"DeleteAccountPasswordPolicy": a.deleteAccountPasswordPolicy,
	}
}

type loginProfileXML struct {
	UserName              string
	CreateDate            string
	PasswordResetRequired bool
}

func loginProfileOut(lp identity.LoginProfile) any {
	return struct{ LoginProfile loginProfileXML }{loginProfileXML{lp.UserName, isoTime(lp.Created), lp.PasswordResetRequired}}
}

// formBool reads an optional boolean parameter; nil when absent.
func formBool(form url.Values, name string) (*bool, error) {
	if _, ok := form[name]; !ok {
		return nil, nil
	}
	switch strings.ToLower(form.Get(name)) {
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, awserr.New(awserr.Invalid, "ValidationError", "%s must be true or false", name)
}

// formInt reads an optional integer parameter; nil when absent.
func formInt(form url.Values, name string) (*int, error) {
	if _, ok := form[name]; !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(form.Get(name))
	if err != nil {
		return nil, awserr.New(awserr.Invalid, "ValidationError", "%s must be a number, not %q", name, form.Get(name))
	}
	return &n, nil
}

func (a api) createLoginProfile(ctx context.Context, form url.Values) (any, error) {
	reset, err := formBool(form, "PasswordResetRequired")
	if err != nil {
		return nil, err
	}
	lp, err := a.ids.CreateLoginProfile(ctx, form.Get("UserName"), form.Get("Password"), reset != nil && *reset)
	if err != nil {
		return nil, err
	}
	return loginProfileOut(lp), nil
}

func (a api) getLoginProfile(ctx context.Context, form url.Values) (any, error) {
	lp, err := a.ids.GetLoginProfile(ctx, form.Get("UserName"))
	if err != nil {
		return nil, err
	}
	return loginProfileOut(lp), nil
}

func (a api) updateLoginProfile(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "UserName")
	if err != nil {
		return nil, err
	}
	reset, err := formBool(form, "PasswordResetRequired")
	if err != nil {
		return nil, err
	}
	var pw *string
	if _, ok := form["Password"]; ok {
		v := form.Get("Password")
		pw = &v
	}
	return nil, a.ids.UpdateLoginProfile(ctx, name, pw, reset)
}

func (a api) deleteLoginProfile(ctx context.Context, form url.Values) (any, error) {
	return nil, a.ids.DeleteLoginProfile(ctx, form.Get("UserName"))
}

func (a api) changePassword(ctx context.Context, form url.Values) (any, error) {
	old, err := required(form, "OldPassword")
	if err != nil {
		return nil, err
	}
	pw, err := required(form, "NewPassword")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.ChangePassword(ctx, old, pw)
}

func (a api) updateAccountPasswordPolicy(ctx context.Context, form url.Values) (any, error) {
	var in identity.PasswordPolicyInput
	for name, dst := range map[string]**int{
		"MinimumPasswordLength":   &in.MinimumPasswordLength,
		"MaxPasswordAge":          &in.MaxPasswordAge,
		"PasswordReusePrevention": &in.PasswordReusePrevention,
	} {
		v, err := formInt(form, name)
		if err != nil {
			return nil, err
		}
		*dst = v
	}
	for name, dst := range map[string]*bool{
		"RequireSymbols":             &in.RequireSymbols,
		"RequireNumbers":             &in.RequireNumbers,
		"RequireUppercaseCharacters": &in.RequireUppercaseCharacters,
		"RequireLowercaseCharacters": &in.RequireLowercaseCharacters,
		"AllowUsersToChangePassword": &in.AllowUsersToChangePassword,
		"HardExpiry":                 &in.HardExpiry,
	} {
		v, err := formBool(form, name)
		if err != nil {
			return nil, err
		}
		*dst = v != nil && *v
	}
	return nil, a.ids.UpdateAccountPasswordPolicy(ctx, in)
}

func (a api) getAccountPasswordPolicy(ctx context.Context, _ url.Values) (any, error) {
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

func (a api) deleteAccountPasswordPolicy(ctx context.Context, _ url.Values) (any, error) {
	return nil, a.ids.DeleteAccountPasswordPolicy(ctx)
}
