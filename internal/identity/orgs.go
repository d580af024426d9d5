package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

// Organization is an AWS organization.
type Organization struct {
	ID, ARN, FeatureSet                                   string
	MasterAccountID, MasterAccountARN, MasterAccountEmail string
}

// Account is an account as Organizations describes it.
type Account struct {
	ID, ARN, Email, Name, Status, JoinedMethod string
	JoinedAt                                   time.Time
	OrgID, ParentID                            string
}

// OrgUnit is an organization's root or one of its organizational units.
type OrgUnit struct {
	ID, ARN, Name, ParentID string
}

// CreateAccountStatus is the state of a CreateAccount request.
type CreateAccountStatus struct {
	ID, AccountName, State, AccountID, FailureReason string
	Requested, Completed                             time.Time
}

// ServiceAccess is a service principal trusted by the organization.
type ServiceAccess struct {
	ServicePrincipal string
	Enabled          time.Time
}

type orgRow struct {
	Organization
	rootID string
}

// orgOf returns the organization of account, or AWSOrganizationsNotInUse.
func (s *Service) orgOf(ctx context.Context, q meta.Querier, account string) (orgRow, error) {
	var o orgRow
	err := q.QueryRowContext(ctx, `
		SELECT o.id, o.arn, o.feature_set, o.management_account_id, m.email, r.id
		FROM accounts a JOIN organizations o ON o.id = a.org_id JOIN accounts m ON m.id = o.management_account_id
		JOIN org_units r ON r.org_id = o.id AND r.parent_id IS NULL
		WHERE a.id = ?`, account).Scan(&o.ID, &o.ARN, &o.FeatureSet, &o.MasterAccountID, &o.MasterAccountEmail, &o.rootID)
	if errors.Is(err, sql.ErrNoRows) {
		return orgRow{}, orgNotInUse()
	}
	if err != nil {
		return orgRow{}, fmt.Errorf("read organization of %s: %w", account, err)
	}
	o.MasterAccountARN = orgAccountARN(o.MasterAccountID, o.ID, o.MasterAccountID)
	return o, nil
}

func orgAccountARN(mgmt, org, account string) string {
	return fmt.Sprintf("arn:%s:organizations::%s:account/%s/%s", Partition, mgmt, org, account)
}

// orgCall reads the caller's organization and authorizes an Organizations
// action on the resource named by resource (evaluated in the caller's own
// account, as Organizations does); management requires the caller to be in
// the management account.
func (s *Service) orgCall(ctx context.Context, action string, resource func(orgRow) string, management bool) (*Principal, orgRow, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, orgRow{}, err
	}
	o, err := s.orgOf(ctx, s.store, p.AccountID)
	if err != nil {
		return nil, orgRow{}, err
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource(o), ResourceAccount: p.AccountID}); err != nil {
		return nil, orgRow{}, err
	}
	if management && o.MasterAccountID != p.AccountID {
		return nil, orgRow{}, orgAccessDenied()
	}
	return p, o, nil
}

// anyResource is the resource of actions that name none.
func anyResource(orgRow) string { return "*" }

// accountResource is the ARN of an account of the organization.
func accountResource(id string) func(orgRow) string {
	return func(o orgRow) string { return orgAccountARN(o.MasterAccountID, o.ID, id) }
}

// CreateOrganization makes the caller's account the management account of
// a new organization.
func (s *Service) CreateOrganization(ctx context.Context, featureSet string) (Organization, error) {
	p, err := caller(ctx)
	if err != nil {
		return Organization{}, err
	}
	switch featureSet {
	case "":
		featureSet = "ALL"
	case "ALL", "CONSOLIDATED_BILLING":
	default:
		return Organization{}, orgErr(awserr.Invalid, "InvalidInputException", "FeatureSet must be ALL or CONSOLIDATED_BILLING, not %q", featureSet)
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "organizations:CreateOrganization", Resource: "*", ResourceAccount: p.AccountID}); err != nil {
		return Organization{}, err
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var org sql.NullString
		if err := q.QueryRowContext(ctx, `SELECT org_id FROM accounts WHERE id = ?`, p.AccountID).Scan(&org); err != nil {
			return err
		}
		if org.Valid {
			return orgErr(awserr.Conflict, "AlreadyInOrganizationException", "The AWS account is already a member of an organization.")
		}
		_, err := createOrg(ctx, q, p.AccountID, featureSet, s.now())
		return err
	})
	if err != nil {
		return Organization{}, err
	}
	o, err := s.orgOf(ctx, s.store, p.AccountID)
	return o.Organization, err
}

// createOrg inserts an organization with its root and puts the management
// account under the root.
func createOrg(ctx context.Context, q meta.Querier, mgmt, featureSet string, now time.Time) (string, error) {
	id, root := newOrgID(), newRootID()
	arn := fmt.Sprintf("arn:%s:organizations::%s:organization/%s", Partition, mgmt, id)
	if _, err := q.ExecContext(ctx, `INSERT INTO organizations (id, arn, management_account_id, feature_set, created_at) VALUES (?, ?, ?, ?, ?)`,
		id, arn, mgmt, featureSet, nanos(now)); err != nil {
		return "", fmt.Errorf("create organization: %w", err)
	}
	rootARN := fmt.Sprintf("arn:%s:organizations::%s:root/%s/%s", Partition, mgmt, id, root)
	if _, err := q.ExecContext(ctx, `INSERT INTO org_units (id, org_id, parent_id, name, arn, path, created_at) VALUES (?, ?, NULL, 'Root', ?, ?, ?)`,
		root, id, rootARN, id+"/"+root+"/", nanos(now)); err != nil {
		return "", fmt.Errorf("create organization root: %w", err)
	}
	if _, err := q.ExecContext(ctx, `UPDATE accounts SET org_id = ?, parent_id = ?, joined_at = ? WHERE id = ?`, id, root, nanos(now), mgmt); err != nil {
		return "", err
	}
	return id, nil
}

// DescribeOrganization describes the caller's organization; every member
// account may call it.
func (s *Service) DescribeOrganization(ctx context.Context) (Organization, error) {
	_, o, err := s.orgCall(ctx, "organizations:DescribeOrganization", anyResource, false)
	return o.Organization, err
}

var (
	emailRe       = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	accountNameRe = regexp.MustCompile(`^[\x20-\x7E]{1,50}$`)
)

// CreateAccount creates a member account in the caller's organization and
// in it the role roleName (default OrganizationAccountAccessRole) that
// trusts the management account and has administrator rights. The account
// is ready when the call returns; the status says SUCCEEDED.
func (s *Service) CreateAccount(ctx context.Context, email, name, roleName string, tags []Tag) (CreateAccountStatus, error) {
	_, o, err := s.orgCall(ctx, "organizations:CreateAccount", anyResource, true)
	if err != nil {
		return CreateAccountStatus{}, err
	}
	if len(email) < 6 || len(email) > 64 || !emailRe.MatchString(email) {
		return CreateAccountStatus{}, orgErr(awserr.Invalid, "InvalidInputException", "Email %q is not a valid email address of 6 to 64 characters.", email)
	}
	if !accountNameRe.MatchString(name) {
		return CreateAccountStatus{}, orgErr(awserr.Invalid, "InvalidInputException", "AccountName must be 1 to 50 printable ASCII characters.")
	}
	if roleName == "" {
		roleName = OrganizationAccountAccessRole
	}
	if err := checkName("roleName", roleName); err != nil {
		return CreateAccountStatus{}, orgErr(awserr.Invalid, "InvalidInputException", "RoleName %q is not a valid IAM role name.", roleName)
	}
	if err := checkTags(tags); err != nil {
		return CreateAccountStatus{}, orgErr(awserr.Invalid, "InvalidInputException", "%s", awserr.As(err).Message)
	}
	now := s.now().UTC()
	st := CreateAccountStatus{ID: "car-" + randomString("0123456789abcdef", 32), AccountName: name, Requested: now, Completed: now, State: "SUCCEEDED"}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE lower(email) = lower(?)`, email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			st.State, st.FailureReason, st.AccountID = "FAILED", "EMAIL_ALREADY_EXISTS", ""
		} else {
			for {
				st.AccountID = newAccountID()
				if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, st.AccountID).Scan(&n); err != nil {
					return err
				}
				if n == 0 && st.AccountID[0] != '0' {
					break
				}
			}
			if err := insertMember(ctx, q, st.AccountID, name, email, o.ID, o.rootID, "CREATED", now); err != nil {
				return err
			}
			if err := createAccessRole(ctx, q, st.AccountID, o.MasterAccountID, roleName, now); err != nil {
				return err
			}
		}
		_, err := q.ExecContext(ctx, `INSERT INTO org_create_account_status (id, org_id, account_name, state, account_id, failure_reason, requested_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			st.ID, o.ID, name, st.State, st.AccountID, st.FailureReason, nanos(now), nanos(now))
		return err
	})
	return st, err
}

func insertMember(ctx context.Context, q meta.Querier, id, name, email, org, parent, method string, now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO accounts (id, name, email, org_id, status, joined_method, created_at, parent_id, joined_at) VALUES (?, ?, ?, ?, 'ACTIVE', ?, ?, ?, ?)`,
		id, name, email, org, method, nanos(now), parent, nanos(now))
	if err != nil {
		return fmt.Errorf("create account %s: %w", id, err)
	}
	return nil
}

// createAccessRole creates the role through which the management account
// administers a member: trusting the management account, with an inline
// AdministratorAccess policy, as AWS creates OrganizationAccountAccessRole.
func createAccessRole(ctx context.Context, q meta.Querier, account, mgmt, roleName string, now time.Time) error {
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, mgmt)
	r := Role{AccountID: account, Path: "/", Name: roleName, RoleID: newRoleID(), ARN: RoleARN(account, "/", roleName),
		TrustPolicy: trust, MaxSessionDuration: DefaultMaxSessionDuration, Created: now}
	if err := insertRole(ctx, q, r); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO iam_role_policies (account_id, role_name, policy_name, document) VALUES (?, ?, 'AdministratorAccess', ?)`, account, roleName, AdministratorAccess)
	return err
}

// DescribeCreateAccountStatus returns the status of a CreateAccount request.
func (s *Service) DescribeCreateAccountStatus(ctx context.Context, id string) (CreateAccountStatus, error) {
	_, o, err := s.orgCall(ctx, "organizations:DescribeCreateAccountStatus", anyResource, true)
	if err != nil {
		return CreateAccountStatus{}, err
	}
	st := CreateAccountStatus{ID: id}
	var acct, reason sql.NullString
	var req int64
	var done sql.NullInt64
	err = s.store.QueryRowContext(ctx, `SELECT account_name, state, account_id, failure_reason, requested_at, completed_at FROM org_create_account_status WHERE id = ? AND org_id = ?`, id, o.ID).
		Scan(&st.AccountName, &st.State, &acct, &reason, &req, &done)
	if errors.Is(err, sql.ErrNoRows) {
		return CreateAccountStatus{}, orgErr(awserr.NotFound, "CreateAccountStatusNotFoundException", "We can't find a create account request with the ID %s.", id)
	}
	if err != nil {
		return CreateAccountStatus{}, err
	}
	st.AccountID, st.FailureReason, st.Requested = acct.String, reason.String, fromNanos(req)
	if done.Valid {
		st.Completed = fromNanos(done.Int64)
	}
	return st, nil
}

func (s *Service) scanAccounts(ctx context.Context, o orgRow, where string, args ...any) ([]Account, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT id, name, email, status, joined_method, COALESCE(joined_at, created_at), COALESCE(parent_id, '') FROM accounts WHERE org_id = ? `+where+` ORDER BY id`,
		append([]any{o.ID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a := Account{OrgID: o.ID}
		var joined int64
		if err := rows.Scan(&a.ID, &a.Name, &a.Email, &a.Status, &a.JoinedMethod, &joined, &a.ParentID); err != nil {
			return nil, err
		}
		a.JoinedAt, a.ARN = fromNanos(joined), orgAccountARN(o.MasterAccountID, o.ID, a.ID)
		out = append(out, a)
	}
	return out, rows.Err()
}

var accountIDArgRe = regexp.MustCompile(`^\d{12}$`)

// DescribeAccount describes an account of the caller's organization.
func (s *Service) DescribeAccount(ctx context.Context, id string) (Account, error) {
	if !accountIDArgRe.MatchString(id) {
		return Account{}, orgErr(awserr.Invalid, "InvalidInputException", "AccountId %q must be 12 digits.", id)
	}
	_, o, err := s.orgCall(ctx, "organizations:DescribeAccount", accountResource(id), true)
	if err != nil {
		return Account{}, err
	}
	as, err := s.scanAccounts(ctx, o, `AND id = ?`, id)
	if err != nil {
		return Account{}, err
	}
	if len(as) == 0 {
		return Account{}, orgErr(awserr.NotFound, "AccountNotFoundException", "You specified an account that doesn't exist: %s.", id)
	}
	return as[0], nil
}

// ListAccounts lists the accounts of the caller's organization.
func (s *Service) ListAccounts(ctx context.Context) ([]Account, error) {
	_, o, err := s.orgCall(ctx, "organizations:ListAccounts", anyResource, true)
	if err != nil {
		return nil, err
	}
	return s.scanAccounts(ctx, o, "")
}

// ListRoots lists the root of the caller's organization.
func (s *Service) ListRoots(ctx context.Context) ([]OrgUnit, error) {
	_, o, err := s.orgCall(ctx, "organizations:ListRoots", anyResource, true)
	if err != nil {
		return nil, err
	}
	return s.scanUnits(ctx, `org_id = ? AND parent_id IS NULL`, o.ID)
}

func (s *Service) scanUnits(ctx context.Context, where string, args ...any) ([]OrgUnit, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT id, arn, name, COALESCE(parent_id, '') FROM org_units WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OrgUnit
	for rows.Next() {
		var u OrgUnit
		if err := rows.Scan(&u.ID, &u.ARN, &u.Name, &u.ParentID); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

var parentIDRe = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)

// unit reads a root or OU of org; notFound is the error when missing.
func (s *Service) unit(ctx context.Context, o orgRow, id string, notFound func() *awserr.Error) (OrgUnit, string, error) {
	if !parentIDRe.MatchString(id) {
		return OrgUnit{}, "", orgErr(awserr.Invalid, "InvalidInputException", "%q is not a root ID (r-...) or organizational unit ID (ou-...).", id)
	}
	var u OrgUnit
	var path string
	var parent sql.NullString
	err := s.store.QueryRowContext(ctx, `SELECT id, arn, name, parent_id, path FROM org_units WHERE id = ? AND org_id = ?`, id, o.ID).Scan(&u.ID, &u.ARN, &u.Name, &parent, &path)
	if errors.Is(err, sql.ErrNoRows) {
		return OrgUnit{}, "", notFound()
	}
	u.ParentID = parent.String
	return u, path, err
}

func parentNotFound() *awserr.Error {
	return orgErr(awserr.NotFound, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
}

// MaxOUDepth is how deep AWS lets OUs nest under the root.
const MaxOUDepth = 5

// CreateOrganizationalUnit creates an OU under a root or OU.
func (s *Service) CreateOrganizationalUnit(ctx context.Context, parentID, name string) (OrgUnit, error) {
	_, o, err := s.orgCall(ctx, "organizations:CreateOrganizationalUnit", anyResource, true)
	if err != nil {
		return OrgUnit{}, err
	}
	if len(name) < 1 || len(name) > 128 {
		return OrgUnit{}, orgErr(awserr.Invalid, "InvalidInputException", "Name must be 1 to 128 characters.")
	}
	parent, path, err := s.unit(ctx, o, parentID, parentNotFound)
	if err != nil {
		return OrgUnit{}, err
	}
	depth := 0
	for _, c := range path {
		if c == '/' {
			depth++
		}
	}
	if depth-2 >= MaxOUDepth { // o-x/r-y/ is depth 0
		return OrgUnit{}, orgErr(awserr.Invalid, "ConstraintViolationException", "You attempted to create an OU deeper than %d levels under the root (OU_DEPTH_LIMIT_EXCEEDED).", MaxOUDepth)
	}
	rootSuffix := o.rootID[2:]
	u := OrgUnit{ID: "ou-" + rootSuffix + "-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 8), Name: name, ParentID: parent.ID}
	u.ARN = fmt.Sprintf("arn:%s:organizations::%s:ou/%s/%s", Partition, o.MasterAccountID, o.ID, u.ID)
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_units WHERE parent_id = ? AND name = ?`, parent.ID, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return orgErr(awserr.Conflict, "DuplicateOrganizationalUnitException", "An OU with the same name already exists under %s.", parent.ID)
		}
		_, err := q.ExecContext(ctx, `INSERT INTO org_units (id, org_id, parent_id, name, arn, path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, o.ID, parent.ID, name, u.ARN, path+u.ID+"/", nanos(s.now()))
		return err
	})
	return u, err
}

// ListOrganizationalUnitsForParent lists the OUs directly under a parent.
func (s *Service) ListOrganizationalUnitsForParent(ctx context.Context, parentID string) ([]OrgUnit, error) {
	_, o, err := s.orgCall(ctx, "organizations:ListOrganizationalUnitsForParent", anyResource, true)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.unit(ctx, o, parentID, parentNotFound); err != nil {
		return nil, err
	}
	return s.scanUnits(ctx, `parent_id = ? AND org_id = ?`, parentID, o.ID)
}

// ListAccountsForParent lists the accounts directly under a parent.
func (s *Service) ListAccountsForParent(ctx context.Context, parentID string) ([]Account, error) {
	_, o, err := s.orgCall(ctx, "organizations:ListAccountsForParent", anyResource, true)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.unit(ctx, o, parentID, parentNotFound); err != nil {
		return nil, err
	}
	return s.scanAccounts(ctx, o, `AND parent_id = ?`, parentID)
}

// MoveAccount moves an account from one parent to another.
func (s *Service) MoveAccount(ctx context.Context, accountID, sourceID, destID string) error {
	_, o, err := s.orgCall(ctx, "organizations:MoveAccount", accountResource(accountID), true)
	if err != nil {
		return err
	}
	if !accountIDArgRe.MatchString(accountID) {
		return orgErr(awserr.Invalid, "InvalidInputException", "AccountId %q must be 12 digits.", accountID)
	}
	if _, _, err := s.unit(ctx, o, sourceID, func() *awserr.Error {
		return orgErr(awserr.NotFound, "SourceParentNotFoundException", "We can't find a source root or OU with the ParentId %s.", sourceID)
	}); err != nil {
		return err
	}
	if _, _, err := s.unit(ctx, o, destID, func() *awserr.Error {
		return orgErr(awserr.NotFound, "DestinationParentNotFoundException", "We can't find a destination root or OU with the ParentId %s.", destID)
	}); err != nil {
		return err
	}
	as, err := s.scanAccounts(ctx, o, `AND id = ?`, accountID)
	if err != nil {
		return err
	}
	switch {
	case len(as) == 0:
		return orgErr(awserr.NotFound, "AccountNotFoundException", "You specified an account that doesn't exist: %s.", accountID)
	case as[0].ParentID == destID:
		return orgErr(awserr.Conflict, "DuplicateAccountException", "That account is already present in the specified destination.")
	case as[0].ParentID != sourceID:
		return orgErr(awserr.NotFound, "AccountNotFoundException", "Account %s is not under the source parent %s.", accountID, sourceID)
	}
	_, err = s.store.ExecContext(ctx, `UPDATE accounts SET parent_id = ? WHERE id = ? AND org_id = ?`, destID, accountID, o.ID)
	return err
}

// RemoveAccountFromOrganization makes a member account standalone.
func (s *Service) RemoveAccountFromOrganization(ctx context.Context, accountID string) error {
	_, o, err := s.orgCall(ctx, "organizations:RemoveAccountFromOrganization", accountResource(accountID), true)
	if err != nil {
		return err
	}
	if accountID == o.MasterAccountID {
		return orgErr(awserr.Invalid, "MasterCannotLeaveOrganizationException", "You can't remove the management account from an organization. Delete the organization instead.")
	}
	res, err := s.store.ExecContext(ctx, `UPDATE accounts SET org_id = NULL, parent_id = NULL, joined_at = NULL WHERE id = ? AND org_id = ?`, accountID, o.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return orgErr(awserr.NotFound, "AccountNotFoundException", "You specified an account that doesn't exist: %s.", accountID)
	}
	return nil
}

var servicePrincipalRe = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

// EnableAWSServiceAccess lets a service (backup.amazonaws.com) work across
// the organization.
func (s *Service) EnableAWSServiceAccess(ctx context.Context, principal string) error {
	_, o, err := s.orgCall(ctx, "organizations:EnableAWSServiceAccess", anyResource, true)
	if err != nil {
		return err
	}
	if !servicePrincipalRe.MatchString(principal) {
		return orgErr(awserr.Invalid, "InvalidInputException", "ServicePrincipal %q is not a service principal name.", principal)
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_service_access WHERE org_id = ? AND service_principal = ?`, o.ID, principal).Scan(&n); err != nil || n > 0 {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO org_service_access (org_id, service_principal, enabled_at) VALUES (?, ?, ?)`, o.ID, principal, nanos(s.now()))
		return err
	})
}

// DisableAWSServiceAccess withdraws a service's organization access.
func (s *Service) DisableAWSServiceAccess(ctx context.Context, principal string) error {
	_, o, err := s.orgCall(ctx, "organizations:DisableAWSServiceAccess", anyResource, true)
	if err != nil {
		return err
	}
	_, err = s.store.ExecContext(ctx, `DELETE FROM org_service_access WHERE org_id = ? AND service_principal = ?`, o.ID, principal)
	return err
}

// ListAWSServiceAccessForOrganization lists the trusted services.
func (s *Service) ListAWSServiceAccessForOrganization(ctx context.Context) ([]ServiceAccess, error) {
	_, o, err := s.orgCall(ctx, "organizations:ListAWSServiceAccessForOrganization", anyResource, true)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT service_principal, enabled_at FROM org_service_access WHERE org_id = ? ORDER BY service_principal`, o.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ServiceAccess
	for rows.Next() {
		var a ServiceAccess
		var t int64
		if err := rows.Scan(&a.ServicePrincipal, &t); err != nil {
			return nil, err
		}
		a.Enabled = fromNanos(t)
		out = append(out, a)
	}
	return out, rows.Err()
}

// OrgInfo is what other domains need to know of an account's
// organization.
type OrgInfo struct {
	OrgID, ManagementAccountID string
	// Path is the account's aws:PrincipalOrgPaths value.
	Path string
}

// AccountOrg returns the organization of an account; OrgID is "" for an
// account outside any organization. It is an internal query for other
// domains (Backup's cross-account checks) and authorizes nothing.
func (s *Service) AccountOrg(ctx context.Context, account string) (OrgInfo, error) {
	var org, mgmt, path sql.NullString
	err := s.store.QueryRowContext(ctx, `SELECT a.org_id, o.management_account_id, u.path FROM accounts a
		LEFT JOIN organizations o ON o.id = a.org_id LEFT JOIN org_units u ON u.id = a.parent_id WHERE a.id = ?`, account).Scan(&org, &mgmt, &path)
	if errors.Is(err, sql.ErrNoRows) {
		return OrgInfo{}, orgErr(awserr.NotFound, "AccountNotFoundException", "You specified an account that doesn't exist: %s.", account)
	}
	if err != nil {
		return OrgInfo{}, err
	}
	return OrgInfo{OrgID: org.String, ManagementAccountID: mgmt.String, Path: path.String}, nil
}

// ServiceAccessEnabled reports whether an organization trusts a service
// principal (EnableAWSServiceAccess). Internal, like AccountOrg.
func (s *Service) ServiceAccessEnabled(ctx context.Context, orgID, principal string) (bool, error) {
	var n int
	err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_service_access WHERE org_id = ? AND service_principal = ?`, orgID, principal).Scan(&n)
	return n > 0, err
}
