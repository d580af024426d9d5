package identity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/coffer-dev/coffer/internal/meta"
)

// DefaultManagementAccountID is the management account coffer creates on
// first start when no bootstrap file is given.
const DefaultManagementAccountID = "000000000000"

// AdministratorAccess is the policy document that gives full rights in an
// account, as the AWS-managed policy of that name does.
const AdministratorAccess = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// Bootstrap declares the organizations, accounts and users to create on
// first start. The zero value creates one organization whose management
// account holds an administrator with a random access key.
type Bootstrap struct {
	Organizations []BootstrapOrg     `yaml:"organizations"`
	Accounts      []BootstrapAccount `yaml:"accounts"`
	Users         []BootstrapUser    `yaml:"users"`
}

// BootstrapOrg is an organization: its management account and members.
// Each member gets the role OrganizationAccountAccessRole, trusting the
// management account, as if Organizations had created it.
type BootstrapOrg struct {
	ManagementAccount string   `yaml:"managementAccount"`
	Members           []string `yaml:"members"`
}

// BootstrapAccount is an account with a fixed ID.
type BootstrapAccount struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
}

// BootstrapUser is an IAM user with administrator rights in its account
// and, optionally, a fixed access key.
type BootstrapUser struct {
	Account string `yaml:"account"`
	Name    string `yaml:"name"`
	// Root makes the entry an access key of the account root user
	// (arn:aws:iam::ACCOUNT:root) instead of an IAM user; Name stays
	// empty. AWS discourages root keys; they are here to show what the
	// root may and may not do (a compliance-mode vault lock binds it too).
	Root            bool   `yaml:"root"`
	AccessKeyID     string `yaml:"accessKeyId"`
	SecretAccessKey string `yaml:"secretAccessKey"`
	// Profile names the credentials-file profile written for the user.
	Profile string `yaml:"profile"`
	// ConsolePassword gives the user a random console password (a login
	// profile that must be changed at the first sign-in), written to the
	// console-passwords file beside the credentials.
	ConsolePassword bool `yaml:"consolePassword"`
}

// DefaultBootstrap is what an empty data directory gets.
func DefaultBootstrap() Bootstrap {
	return Bootstrap{
		Organizations: []BootstrapOrg{{ManagementAccount: DefaultManagementAccountID}},
		Accounts:      []BootstrapAccount{{ID: DefaultManagementAccountID, Name: "management", Email: "management@coffer.local"}},
		Users:         []BootstrapUser{{Account: DefaultManagementAccountID, Name: "admin", Profile: "default", ConsolePassword: true}},
	}
}

// LoadBootstrap reads a bootstrap YAML file.
func LoadBootstrap(path string) (Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Bootstrap{}, fmt.Errorf("read bootstrap file: %w", err)
	}
	var b Bootstrap
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&b); err != nil {
		return Bootstrap{}, fmt.Errorf("bootstrap file %s: %w", path, err)
	}
	if err := b.Validate(); err != nil {
		return Bootstrap{}, fmt.Errorf("bootstrap file %s: %w", path, err)
	}
	return b, nil
}

var (
	accountIDRe = regexp.MustCompile(`^\d{12}$`)
	userNameRe  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	accessKeyRe = regexp.MustCompile(`^AKIA[A-Z0-9]{12,124}$`)
)

// Validate checks the declarations refer to each other consistently.
func (b Bootstrap) Validate() error {
	accounts := map[string]bool{}
	for _, a := range b.Accounts {
		if !accountIDRe.MatchString(a.ID) {
			return fmt.Errorf("account id %q must be 12 digits", a.ID)
		}
		if accounts[a.ID] {
			return fmt.Errorf("account %s is declared twice", a.ID)
		}
		if a.Name == "" {
			return fmt.Errorf("account %s needs a name", a.ID)
		}
		accounts[a.ID] = true
	}
	inOrg := map[string]bool{}
	for _, o := range b.Organizations {
		for _, id := range append([]string{o.ManagementAccount}, o.Members...) {
			if !accounts[id] {
				return fmt.Errorf("organization of %s names account %q, which is not declared under accounts", o.ManagementAccount, id)
			}
			if inOrg[id] {
				return fmt.Errorf("account %s belongs to two organizations", id)
			}
			inOrg[id] = true
		}
	}
	profiles := map[string]bool{}
	for _, u := range b.Users {
		if !accounts[u.Account] {
			return fmt.Errorf("user %s: account %q is not declared under accounts", u.Name, u.Account)
		}
		switch {
		case u.Root && u.Name != "":
			return fmt.Errorf("account %s: a root access key has no user name (got %q)", u.Account, u.Name)
		case !u.Root && !userNameRe.MatchString(u.Name):
			return fmt.Errorf("user name %q is not a valid IAM user name", u.Name)
		case u.Root && u.ConsolePassword:
			return fmt.Errorf("account %s: the root user has no IAM console password; give one to an IAM user", u.Account)
		}
		if (u.AccessKeyID == "") != (u.SecretAccessKey == "") {
			return fmt.Errorf("user %s: give both accessKeyId and secretAccessKey, or neither", u.Name)
		}
		if u.AccessKeyID != "" && !accessKeyRe.MatchString(u.AccessKeyID) {
			return fmt.Errorf("user %s: access key id %q must look like AKIA followed by 12 or more capitals and digits", u.Name, u.AccessKeyID)
		}
		if u.SecretAccessKey != "" && len(u.SecretAccessKey) < 16 {
			return fmt.Errorf("user %s: the secret access key must be at least 16 characters", u.Name)
		}
		if u.Profile != "" {
			if profiles[u.Profile] {
				return fmt.Errorf("profile %q is used by two users", u.Profile)
			}
			profiles[u.Profile] = true
		}
	}
	return nil
}

// BootstrapResult lists the keys created, for the credentials file, and
// the console passwords, for the console-passwords file.
type BootstrapResult struct {
	Profiles         []Profile
	ConsolePasswords []ConsolePassword
}

// ConsolePassword is a console password made at bootstrap.
type ConsolePassword struct {
	Account, User, Password string
}

// newConsolePassword is a random password that IAM's default policy
// accepts: upper and lower case letters, digits and a symbol.
func newConsolePassword() string {
	return randomString("ABCDEFGHJKLMNPQRSTUVWXYZ", 4) + "-" + randomString("abcdefghijkmnopqrstuvwxyz", 4) + "-" + randomString("23456789", 4) + "-" +
		randomString("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", 8)
}

// Profile is one entry of an AWS shared-credentials file.
type Profile struct {
	Name, AccessKeyID, SecretAccessKey string
}

// Initialized reports whether the store already holds accounts.
func (s *Service) Initialized(ctx context.Context) (bool, error) {
	var n int
	if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// ApplyBootstrap creates what b declares, all in one transaction, so a
// crash leaves an empty store that the next start bootstraps again.
func (s *Service) ApplyBootstrap(ctx context.Context, b Bootstrap) (BootstrapResult, error) {
	if err := b.Validate(); err != nil {
		return BootstrapResult{}, err
	}
	now := s.now()
	var res BootstrapResult
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		res = BootstrapResult{}
		declared := map[string]BootstrapAccount{}
		for _, a := range b.Accounts {
			if a.Email == "" {
				a.Email = a.Name + "@coffer.local"
			}
			declared[a.ID] = a
		}
		inOrg := map[string]bool{}
		for _, o := range b.Organizations {
			m := declared[o.ManagementAccount]
			if _, err := q.ExecContext(ctx, `INSERT INTO accounts (id, name, email, status, joined_method, created_at) VALUES (?, ?, ?, 'ACTIVE', 'CREATED', ?)`,
				m.ID, m.Name, m.Email, nanos(now)); err != nil {
				return fmt.Errorf("create account %s: %w", m.ID, err)
			}
			orgID, err := createOrg(ctx, q, m.ID, "ALL", now)
			if err != nil {
				return err
			}
			var root string
			if err := q.QueryRowContext(ctx, `SELECT id FROM org_units WHERE org_id = ? AND parent_id IS NULL`, orgID).Scan(&root); err != nil {
				return err
			}
			inOrg[m.ID] = true
			for _, id := range o.Members {
				a := declared[id]
				if err := insertMember(ctx, q, a.ID, a.Name, a.Email, orgID, root, "CREATED", now); err != nil {
					return err
				}
				if err := createAccessRole(ctx, q, a.ID, m.ID, OrganizationAccountAccessRole, now); err != nil {
					return err
				}
				inOrg[id] = true
			}
		}
		for _, a := range b.Accounts {
			if inOrg[a.ID] {
				continue
			}
			a = declared[a.ID]
			if _, err := q.ExecContext(ctx, `INSERT INTO accounts (id, name, email, status, joined_method, created_at) VALUES (?, ?, ?, 'ACTIVE', 'CREATED', ?)`,
				a.ID, a.Name, a.Email, nanos(now)); err != nil {
				return fmt.Errorf("create account %s: %w", a.ID, err)
			}
		}
		for _, u := range b.Users {
			if !u.Root {
				if _, err := q.ExecContext(ctx, `INSERT INTO iam_users (account_id, name, user_id, path, created_at) VALUES (?, ?, ?, '/', ?)`,
					u.Account, u.Name, newUserID(), nanos(now)); err != nil {
					return fmt.Errorf("create user %s in %s: %w", u.Name, u.Account, err)
				}
				if _, err := q.ExecContext(ctx, `INSERT INTO iam_user_policies (account_id, user_name, policy_name, document) VALUES (?, ?, 'AdministratorAccess', ?)`,
					u.Account, u.Name, AdministratorAccess); err != nil {
					return fmt.Errorf("grant administrator rights to %s: %w", u.Name, err)
				}
			}
			id, secret := u.AccessKeyID, u.SecretAccessKey
			if id == "" {
				id, secret = NewAccessKeyID(), NewSecretAccessKey()
			}
			sealed, err := s.keys.Seal(ctx, []byte(secret), accessKeyAAD(id))
			if err != nil {
				return fmt.Errorf("seal access key: %w", err)
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO access_keys (access_key_id, account_id, user_name, sealed_secret, status, created_at) VALUES (?, ?, ?, ?, 'Active', ?)`,
				id, u.Account, u.Name, sealed, nanos(now)); err != nil {
				return fmt.Errorf("create access key for %s: %w", u.Name, err)
			}
			if u.Profile != "" {
				res.Profiles = append(res.Profiles, Profile{Name: u.Profile, AccessKeyID: id, SecretAccessKey: secret})
			}
			if u.ConsolePassword {
				pw := newConsolePassword()
				hash := hashPassword(pw)
				if _, err := q.ExecContext(ctx, `INSERT INTO iam_login_profiles (account_id, user_name, password_hash, reset_required, created_at, password_changed_at) VALUES (?, ?, ?, 1, ?, ?)`,
					u.Account, u.Name, hash, nanos(now), nanos(now)); err != nil {
					return fmt.Errorf("create console password of %s: %w", u.Name, err)
				}
				if err := remember(ctx, q, u.Account, u.Name, hash, now); err != nil {
					return err
				}
				res.ConsolePasswords = append(res.ConsolePasswords, ConsolePassword{Account: u.Account, User: u.Name, Password: pw})
			}
		}
		return nil
	})
	return res, err
}

// WriteCredentialsFile writes the profiles in the AWS shared-credentials
// format, mode 0600, replacing the file atomically.
func WriteCredentialsFile(path string, profiles []Profile) error {
	var b strings.Builder
	for i, p := range profiles {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", p.Name, p.AccessKeyID, p.SecretAccessKey)
	}
	return writeFile0600(path, b.String())
}

// WriteConsolePasswords writes the console passwords made at bootstrap,
// mode 0600: one "account user password" line each, after a comment.
func WriteConsolePasswords(path string, pws []ConsolePassword) error {
	var b strings.Builder
	b.WriteString("# coffer console (/console/): account ID, IAM user name, password; change it at the first sign-in\n")
	for _, p := range pws {
		fmt.Fprintf(&b, "%s %s %s\n", p.Account, p.User, p.Password)
	}
	return writeFile0600(path, b.String())
}

// WriteConfigFile writes an AWS config file giving each profile a region,
// so the CLI needs no other setting.
func WriteConfigFile(path, region string, profiles []Profile) error {
	var b strings.Builder
	for i, p := range profiles {
		if i > 0 {
			b.WriteString("\n")
		}
		section := "profile " + p.Name
		if p.Name == "default" {
			section = "default"
		}
		fmt.Fprintf(&b, "[%s]\nregion = %s\n", section, region)
	}
	return writeFile0600(path, b.String())
}

func writeFile0600(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
