package organizations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/testenv"
)

func TestOrganizationStructure(t *testing.T) { testenv.ForEachStore(t, testOrganizationStructure) }

func testOrganizationStructure(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	mgmt := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))

	org := testenv.Must[*organizations.DescribeOrganizationOutput](t)(mgmt.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}))
	o := org.Organization
	if !strings.HasPrefix(aws.ToString(o.Id), "o-") || aws.ToString(o.MasterAccountId) != testenv.ManagementAccount || o.FeatureSet != "ALL" ||
		aws.ToString(o.Arn) != "arn:aws:organizations::"+testenv.ManagementAccount+":organization/"+aws.ToString(o.Id) {
		t.Fatalf("organization = %+v", o)
	}
	accts := testenv.Must[*organizations.ListAccountsOutput](t)(mgmt.ListAccounts(ctx, &organizations.ListAccountsInput{}))
	if len(accts.Accounts) != 3 {
		t.Fatalf("accounts = %d, want 3", len(accts.Accounts))
	}
	// Pages of one.
	p1 := testenv.Must[*organizations.ListAccountsOutput](t)(mgmt.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)}))
	if len(p1.Accounts) != 1 || p1.NextToken == nil {
		t.Fatalf("first page = %+v", p1)
	}
	roots := testenv.Must[*organizations.ListRootsOutput](t)(mgmt.ListRoots(ctx, &organizations.ListRootsInput{}))
	if len(roots.Roots) != 1 || !strings.HasPrefix(aws.ToString(roots.Roots[0].Id), "r-") {
		t.Fatalf("roots = %+v", roots.Roots)
	}
	root := aws.ToString(roots.Roots[0].Id)

	ou := testenv.Must[*organizations.CreateOrganizationalUnitOutput](t)(mgmt.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(root), Name: aws.String("Backups")}))
	ouID := aws.ToString(ou.OrganizationalUnit.Id)
	if !strings.HasPrefix(ouID, "ou-"+root[2:]+"-") {
		t.Fatalf("OU id %s", ouID)
	}
	_, err := mgmt.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(root), Name: aws.String("Backups")})
	testenv.WantAPIError(t, err, "DuplicateOrganizationalUnitException", "already exists")
	_, err = mgmt.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String("ou-zzzz-zzzzzzzz"), Name: aws.String("x")})
	testenv.WantAPIError(t, err, "ParentNotFoundException", "ParentId")
	ous := testenv.Must[*organizations.ListOrganizationalUnitsForParentOutput](t)(mgmt.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(root)}))
	if len(ous.OrganizationalUnits) != 1 {
		t.Fatalf("OUs = %+v", ous.OrganizationalUnits)
	}

	// Move the backup account into the OU; aws:PrincipalOrgPaths follows.
	testenv.Must[*organizations.MoveAccountOutput](t)(mgmt.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(testenv.BackupAccount), SourceParentId: aws.String(root), DestinationParentId: aws.String(ouID)}))
	_, err = mgmt.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(testenv.BackupAccount), SourceParentId: aws.String(root), DestinationParentId: aws.String(ouID)})
	testenv.WantAPIError(t, err, "DuplicateAccountException", "already present")
	in := testenv.Must[*organizations.ListAccountsForParentOutput](t)(mgmt.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(ouID)}))
	if len(in.Accounts) != 1 || aws.ToString(in.Accounts[0].Id) != testenv.BackupAccount {
		t.Fatalf("accounts in OU = %+v", in.Accounts)
	}
	path := aws.ToString(o.Id) + "/" + root + "/" + ouID + "/"
	srcIAM := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"` + path + `*"}}}]}`
	testenv.Must[*iam.CreateRoleOutput](t)(srcIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("from-backups-ou"), AssumeRolePolicyDocument: aws.String(trust)}))
	role := aws.String("arn:aws:iam::" + testenv.SourceAccount + ":role/from-backups-ou")
	if _, err := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup"))).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: role, RoleSessionName: aws.String("ou")}); err != nil {
		t.Fatalf("account in the OU refused: %v", err)
	}
	_, err = sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default"))).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: role, RoleSessionName: aws.String("root")})
	testenv.WantAPIError(t, err, "AccessDenied", "no resource-based policy allows")

	// Trusted services.
	testenv.Must[*organizations.EnableAWSServiceAccessOutput](t)(mgmt.EnableAWSServiceAccess(ctx, &organizations.EnableAWSServiceAccessInput{ServicePrincipal: aws.String("backup.amazonaws.com")}))
	sa := testenv.Must[*organizations.ListAWSServiceAccessForOrganizationOutput](t)(mgmt.ListAWSServiceAccessForOrganization(ctx, &organizations.ListAWSServiceAccessForOrganizationInput{}))
	if len(sa.EnabledServicePrincipals) != 1 || aws.ToString(sa.EnabledServicePrincipals[0].ServicePrincipal) != "backup.amazonaws.com" {
		t.Fatalf("service access = %+v", sa.EnabledServicePrincipals)
	}
	testenv.Must[*organizations.DisableAWSServiceAccessOutput](t)(mgmt.DisableAWSServiceAccess(ctx, &organizations.DisableAWSServiceAccessInput{ServicePrincipal: aws.String("backup.amazonaws.com")}))

	// Only the management account manages; members may describe.
	member := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	if _, err := member.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err != nil {
		t.Fatalf("member DescribeOrganization: %v", err)
	}
	_, err = member.ListAccounts(ctx, &organizations.ListAccountsInput{})
	testenv.WantAPIError(t, err, "AccessDeniedException", "You don't have permissions to access this resource.")
	_, err = member.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String("x@example.com"), AccountName: aws.String("x")})
	testenv.WantAPIError(t, err, "AccessDeniedException", "You don't have permissions to access this resource.")

	// Another organization sees none of this one.
	outsider := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "outsider")))
	oo := testenv.Must[*organizations.DescribeOrganizationOutput](t)(outsider.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}))
	if aws.ToString(oo.Organization.Id) == aws.ToString(o.Id) {
		t.Fatal("the outsider shares the organization")
	}
	_, err = outsider.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(testenv.SourceAccount)})
	testenv.WantAPIError(t, err, "AccountNotFoundException", testenv.SourceAccount)

	// A removed account is standalone and can found its own organization.
	_, err = mgmt.RemoveAccountFromOrganization(ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(testenv.ManagementAccount)})
	testenv.WantAPIError(t, err, "MasterCannotLeaveOrganizationException", "management account")
	testenv.Must[*organizations.RemoveAccountFromOrganizationOutput](t)(mgmt.RemoveAccountFromOrganization(ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(testenv.SourceAccount)}))
	_, err = member.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	testenv.WantAPIError(t, err, "AWSOrganizationsNotInUseException", "not a member of an organization")
	third := testenv.Must[*organizations.CreateOrganizationOutput](t)(member.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: "ALL"}))
	if aws.ToString(third.Organization.MasterAccountId) != testenv.SourceAccount {
		t.Fatalf("new organization = %+v", third.Organization)
	}
	_, err = member.CreateOrganization(ctx, &organizations.CreateOrganizationInput{})
	testenv.WantAPIError(t, err, "AlreadyInOrganizationException", "already a member")
}

func TestCreateAccountBadInput(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	mgmt := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	_, err := mgmt.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String("not-an-email"), AccountName: aws.String("x")})
	testenv.WantAPIError(t, err, "InvalidInputException", "not a valid email")
	// A used email fails the request, as AWS reports it, in the status.
	out := testenv.Must[*organizations.CreateAccountOutput](t)(mgmt.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String("source@example.com"), AccountName: aws.String("dup")}))
	if out.CreateAccountStatus.State != "FAILED" || out.CreateAccountStatus.FailureReason != "EMAIL_ALREADY_EXISTS" {
		t.Fatalf("status = %+v", out.CreateAccountStatus)
	}
	_, err = mgmt.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: aws.String("car-00000000000000000000000000000000")})
	testenv.WantAPIError(t, err, "CreateAccountStatusNotFoundException", "car-0000")
	accts := testenv.Must[*organizations.ListAccountsOutput](t)(mgmt.ListAccounts(ctx, &organizations.ListAccountsInput{}))
	if len(accts.Accounts) != 3 {
		t.Fatalf("a failed CreateAccount left an account: %d accounts", len(accts.Accounts))
	}
}
