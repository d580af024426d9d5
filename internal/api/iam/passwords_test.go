package iam_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// Login profiles, the account password policy and ChangePassword through
// the SDK, with IAM's errors.
func TestLoginProfilesAndPasswordPolicy(t *testing.T) {
	testenv.ForEachStore(t, testLoginProfilesAndPasswordPolicy)
}

func testLoginProfilesAndPasswordPolicy(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	testenv.Must[*iam.CreateUserOutput](t)(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")}))

	_, err := admin.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("carol")})
	testenv.WantAPIError(t, err, "NoSuchEntity", "Login Profile for User carol cannot be found.")

	// Without a policy of its own the account has IAM's default one.
	_, err = admin.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	testenv.WantAPIError(t, err, "NoSuchEntity", "The Password Policy with domain name 111222333444 cannot be found.")
	for _, bad := range []string{"Sh0rt!", "alllowercase1", "source"} {
		_, err = admin.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String(bad)})
		testenv.WantAPIError(t, err, "PasswordPolicyViolation", "Password ")
	}
	lp := testenv.Must[*iam.CreateLoginProfileOutput](t)(admin.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{
		UserName: aws.String("carol"), Password: aws.String("Correct-Horse-1"), PasswordResetRequired: true}))
	if aws.ToString(lp.LoginProfile.UserName) != "carol" || !lp.LoginProfile.PasswordResetRequired || lp.LoginProfile.CreateDate == nil {
		t.Fatalf("CreateLoginProfile = %+v", lp.LoginProfile)
	}
	_, err = admin.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String("Correct-Horse-2")})
	testenv.WantAPIError(t, err, "EntityAlreadyExists", "Login Profile for user carol already exists.")
	_, err = admin.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("nobody"), Password: aws.String("Correct-Horse-2")})
	testenv.WantAPIError(t, err, "NoSuchEntity", "The user with name nobody cannot be found.")

	got := testenv.Must[*iam.GetLoginProfileOutput](t)(admin.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("carol")}))
	if !got.LoginProfile.PasswordResetRequired {
		t.Fatalf("GetLoginProfile = %+v", got.LoginProfile)
	}
	testenv.Must[*iam.UpdateLoginProfileOutput](t)(admin.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("carol"), PasswordResetRequired: aws.Bool(false)}))
	got = testenv.Must[*iam.GetLoginProfileOutput](t)(admin.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("carol")}))
	if got.LoginProfile.PasswordResetRequired {
		t.Fatalf("after UpdateLoginProfile PasswordResetRequired=false: %+v", got.LoginProfile)
	}

	// The account's own policy, with its limits and defaults.
	_, err = admin.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MinimumPasswordLength: aws.Int32(5)})
	testenv.WantAPIError(t, err, "ValidationError", "Member must have value greater than or equal to 6")
	_, err = admin.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{PasswordReusePrevention: aws.Int32(25)})
	testenv.WantAPIError(t, err, "ValidationError", "Member must have value less than or equal to 24")
	testenv.Must[*iam.UpdateAccountPasswordPolicyOutput](t)(admin.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: aws.Int32(12), RequireNumbers: true, RequireSymbols: true, MaxPasswordAge: aws.Int32(90), PasswordReusePrevention: aws.Int32(3)}))
	pol := testenv.Must[*iam.GetAccountPasswordPolicyOutput](t)(admin.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}))
	pp := pol.PasswordPolicy
	if aws.ToInt32(pp.MinimumPasswordLength) != 12 || !pp.RequireNumbers || !pp.RequireSymbols || pp.RequireUppercaseCharacters || !pp.ExpirePasswords ||
		aws.ToInt32(pp.MaxPasswordAge) != 90 || aws.ToInt32(pp.PasswordReusePrevention) != 3 || pp.AllowUsersToChangePassword || aws.ToBool(pp.HardExpiry) {
		t.Fatalf("GetAccountPasswordPolicy = %+v", pp)
	}
	_, err = admin.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String("short-1!")})
	testenv.WantAPIError(t, err, "PasswordPolicyViolation", "minimum length of 12")
	_, err = admin.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String("no-digits-here!")})
	testenv.WantAPIError(t, err, "PasswordPolicyViolation", "at least one number")
	_, err = admin.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String("Correct-Horse-1")})
	testenv.WantAPIError(t, err, "PasswordPolicyViolation", "used recently")
	testenv.Must[*iam.UpdateLoginProfileOutput](t)(admin.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String("battery-staple-2")}))

	// ChangePassword: the user's own, with the old password, allowed by
	// the policy's AllowUsersToChangePassword or by iam:ChangePassword.
	k := testenv.Must[*iam.CreateAccessKeyOutput](t)(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("carol")}))
	carol := iam.NewFromConfig(c.AWSConfig(t, aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}))
	_, err = carol.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String("battery-staple-2"), NewPassword: aws.String("battery-staple-3")})
	testenv.WantAPIError(t, err, "AccessDenied", "is not authorized to perform: iam:ChangePassword on resource: arn:aws:iam::111222333444:user/carol")
	testenv.Must[*iam.UpdateAccountPasswordPolicyOutput](t)(admin.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: aws.Int32(12), AllowUsersToChangePassword: true, PasswordReusePrevention: aws.Int32(3)}))
	_, err = carol.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String("wrong-password-9"), NewPassword: aws.String("battery-staple-3")})
	testenv.WantAPIError(t, err, "AccessDenied", "The old password is incorrect.")
	_, err = carol.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String("battery-staple-2"), NewPassword: aws.String("battery-staple-2")})
	testenv.WantAPIError(t, err, "PasswordPolicyViolation", "used recently")
	testenv.Must[*iam.ChangePasswordOutput](t)(carol.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String("battery-staple-2"), NewPassword: aws.String("battery-staple-3")}))
	_, err = carol.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String("battery-staple-2"), NewPassword: aws.String("battery-staple-4")})
	testenv.WantAPIError(t, err, "AccessDenied", "The old password is incorrect.")

	// A role session is not an IAM user.
	mgmt := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	as := testenv.Must[*sts.AssumeRoleOutput](t)(mgmt.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111222333444:role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("ops")}))
	role := iam.NewFromConfig(c.AWSConfig(t, aws.Credentials{AccessKeyID: *as.Credentials.AccessKeyId, SecretAccessKey: *as.Credentials.SecretAccessKey, SessionToken: *as.Credentials.SessionToken}))
	_, err = role.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String("battery-staple-3"), NewPassword: aws.String("battery-staple-5")})
	testenv.WantAPIError(t, err, "InvalidUserType", "Only IAM users")

	// A user with a password cannot be deleted until it is gone.
	for _, km := range testenv.Must[*iam.ListAccessKeysOutput](t)(admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("carol")})).AccessKeyMetadata {
		testenv.Must[*iam.DeleteAccessKeyOutput](t)(admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: km.AccessKeyId}))
	}
	_, err = admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("carol")})
	testenv.WantAPIError(t, err, "DeleteConflict", "must delete login profile first")
	testenv.Must[*iam.DeleteLoginProfileOutput](t)(admin.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("carol")}))
	_, err = admin.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("carol")})
	testenv.WantAPIError(t, err, "NoSuchEntity", "Login Profile for User carol cannot be found.")
	testenv.Must[*iam.DeleteUserOutput](t)(admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("carol")}))

	testenv.Must[*iam.DeleteAccountPasswordPolicyOutput](t)(admin.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{}))
	_, err = admin.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{})
	testenv.WantAPIError(t, err, "NoSuchEntity", "The Password Policy with domain name 111222333444 cannot be found.")
}
