// Package iam is the API adapter for the AWS IAM subset coffer serves
// (awsQuery, version 2010-05-08): users, access keys, roles, inline and
// managed policies, attachments and tags. IAM is global: its ARNs have no
// region and it answers whatever region a request is signed for. Each
// operation is a domain call registered by name: its input is read and
// checked by IAM's model (protocol.QueryOperation).
package iam

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

type api struct{ ids *identity.Service }

// New returns the IAM endpoint.
func New(ids *identity.Service) *protocol.QueryService {
	a := api{ids}
	s := &protocol.QueryService{
		Name:         "iam",
		Version:      "2010-05-08",
		XMLNamespace: "https://iam.amazonaws.com/doc/2010-05-08/",
		Ops:          map[string]protocol.QueryOp{},
		Model:        awsmodel.Load("iam"),
	}
	protocol.QueryOperation(s, "CreateUser", a.createUser)
	protocol.QueryOperation(s, "GetUser", a.getUser)
	protocol.QueryOperation(s, "ListUsers", a.listUsers)
	protocol.QueryAction(s, "DeleteUser", a.deleteUser)
	protocol.QueryOperation(s, "CreateAccessKey", a.createAccessKey)
	protocol.QueryOperation(s, "ListAccessKeys", a.listAccessKeys)
	protocol.QueryAction(s, "UpdateAccessKey", a.updateAccessKey)
	protocol.QueryAction(s, "DeleteAccessKey", a.deleteAccessKey)
	protocol.QueryOperation(s, "CreateRole", a.createRole)
	protocol.QueryOperation(s, "GetRole", a.getRole)
	protocol.QueryOperation(s, "ListRoles", a.listRoles)
	protocol.QueryAction(s, "DeleteRole", a.deleteRole)
	protocol.QueryAction(s, "UpdateAssumeRolePolicy", a.updateAssumeRolePolicy)
	protocol.QueryOperation(s, "CreatePolicy", a.createManagedPolicy)
	protocol.QueryOperation(s, "GetPolicy", a.getManagedPolicy)
	protocol.QueryOperation(s, "GetPolicyVersion", a.getPolicyVersion)
	protocol.QueryOperation(s, "ListPolicies", a.listManagedPolicies)
	protocol.QueryAction(s, "DeletePolicy", a.deleteManagedPolicy)
	for kind, k := range map[string]string{"user": "User", "role": "Role"} {
		protocol.QueryAction(s, "Put"+k+"Policy", a.putPolicy(kind))
		protocol.QueryOperation(s, "Get"+k+"Policy", a.getPolicy(kind))
		protocol.QueryOperation(s, "List"+k+"Policies", a.listPolicies(kind))
		protocol.QueryAction(s, "Delete"+k+"Policy", a.deletePolicy(kind))
		protocol.QueryAction(s, "Attach"+k+"Policy", a.attach(kind))
		protocol.QueryAction(s, "Detach"+k+"Policy", a.detach(kind))
		protocol.QueryOperation(s, "ListAttached"+k+"Policies", a.listAttached(kind))
		protocol.QueryAction(s, "Tag"+k, a.tag(kind))
		protocol.QueryAction(s, "Untag"+k, a.untag(kind))
		protocol.QueryOperation(s, "List"+k+"Tags", a.listTags(kind))
	}
	a.passwordOps(s)
	a.mfaOps(s)
	return s
}

// Wire shapes.

type tagXML struct{ Key, Value string }

type userXML struct {
	Path       string
	UserName   string
	UserId     string
	Arn        string
	CreateDate string
	Tags       []tagXML `xml:"Tags>member,omitempty"`
}

type roleXML struct {
	Path                     string
	RoleName                 string
	RoleId                   string
	Arn                      string
	CreateDate               string
	AssumeRolePolicyDocument string
	Description              string `xml:",omitempty"`
	MaxSessionDuration       int
	Tags                     []tagXML `xml:"Tags>member,omitempty"`
}

type accessKeyXML struct {
	UserName        string
	AccessKeyId     string
	Status          string
	SecretAccessKey string `xml:",omitempty"`
	CreateDate      string
}

type policyXML struct {
	PolicyName                    string
	PolicyId                      string
	Arn                           string
	Path                          string
	DefaultVersionId              string
	AttachmentCount               int
	PermissionsBoundaryUsageCount int
	IsAttachable                  bool
	Description                   string `xml:",omitempty"`
	CreateDate                    string
	UpdateDate                    string
	Tags                          []tagXML `xml:"Tags>member,omitempty"`
}

type attachedXML struct{ PolicyName, PolicyArn string }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// encodeDocument URL-encodes a policy document as IAM returns them
// (RFC 3986: spaces as %20).
func encodeDocument(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

func tagsXML(tags []identity.Tag) []tagXML {
	out := make([]tagXML, len(tags))
	for i, t := range tags {
		out[i] = tagXML{t.Key, t.Value}
	}
	return out
}

func userOut(u identity.User) userXML {
	return userXML{Path: u.Path, UserName: u.Name, UserId: u.UserID, Arn: u.ARN, CreateDate: isoTime(u.Created), Tags: tagsXML(u.Tags)}
}

func roleOut(r identity.Role) roleXML {
	return roleXML{Path: r.Path, RoleName: r.Name, RoleId: r.RoleID, Arn: r.ARN, CreateDate: isoTime(r.Created),
		AssumeRolePolicyDocument: encodeDocument(r.TrustPolicy), Description: r.Description, MaxSessionDuration: r.MaxSessionDuration, Tags: tagsXML(r.Tags)}
}

func policyOut(p identity.ManagedPolicy) policyXML {
	return policyXML{PolicyName: p.Name, PolicyId: p.PolicyID, Arn: p.ARN, Path: p.Path, DefaultVersionId: p.DefaultVersion,
		AttachmentCount: p.AttachmentCount, IsAttachable: true, Description: p.Description,
		CreateDate: isoTime(p.Created), UpdateDate: isoTime(p.Updated), Tags: tagsXML(p.Tags)}
}

// Inputs, named as the model's members.

// page is a list operation's Marker and MaxItems (1-1000, default 100).
type page struct {
	Marker   string
	MaxItems int
}

// entity names the user or role of an operation that has a User and a
// Role form (PutUserPolicy, PutRolePolicy): the model gives each only
// its own member.
type entity struct{ UserName, RoleName string }

func (e entity) name() string {
	if e.RoleName != "" {
		return e.RoleName
	}
	return e.UserName
}

// list is a list operation's result members besides the list itself.
type list struct {
	IsTruncated bool
	Marker      string `xml:",omitempty"`
}

// listOf pages items and converts the page to its wire shape.
func listOf[T, X any](p page, items []T, conv func(T) X) ([]X, list, error) {
	items, l, err := pageOf(p, items)
	out := make([]X, len(items))
	for i, v := range items {
		out[i] = conv(v)
	}
	return out, l, err
}

// pageOf cuts the page the Marker and MaxItems ask for.
func pageOf[T any](p page, items []T) ([]T, list, error) {
	if p.MaxItems == 0 {
		p.MaxItems = 100
	}
	items, next, ok := paginate.Page(items, p.Marker, p.MaxItems)
	if !ok {
		return nil, list{}, awserr.New(awserr.Invalid, "InvalidInput", "Invalid Marker.")
	}
	return items, list{next != "", next}, nil
}

// Users.

type userResult struct{ User userXML }

func (a api) createUser(ctx context.Context, in *struct {
	UserName, Path string
	Tags           []identity.Tag
}) (userResult, error) {
	u, err := a.ids.CreateUser(ctx, in.UserName, in.Path, in.Tags)
	return userResult{userOut(u)}, err
}

func (a api) getUser(ctx context.Context, in *struct{ UserName string }) (userResult, error) {
	u, err := a.ids.GetUser(ctx, in.UserName)
	return userResult{userOut(u)}, err
}

func (a api) listUsers(ctx context.Context, in *struct {
	page
	PathPrefix string
}) (any, error) {
	us, err := a.ids.ListUsers(ctx, in.PathPrefix)
	if err != nil {
		return nil, err
	}
	out, l, err := listOf(in.page, us, userOut)
	return struct {
		Users []userXML `xml:"Users>member"`
		list
	}{out, l}, err
}

func (a api) deleteUser(ctx context.Context, in *struct{ UserName string }) error {
	return a.ids.DeleteUser(ctx, in.UserName)
}

// Access keys.

func (a api) createAccessKey(ctx context.Context, in *struct{ UserName string }) (any, error) {
	k, err := a.ids.CreateAccessKey(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	return struct{ AccessKey accessKeyXML }{accessKeyXML{k.UserName, k.AccessKeyID, k.Status, k.Secret, isoTime(k.Created)}}, nil
}

func (a api) listAccessKeys(ctx context.Context, in *struct {
	page
	UserName string
}) (any, error) {
	ks, err := a.ids.ListAccessKeys(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	out, l, err := listOf(in.page, ks, func(k identity.AccessKey) accessKeyXML {
		return accessKeyXML{UserName: k.UserName, AccessKeyId: k.AccessKeyID, Status: k.Status, CreateDate: isoTime(k.Created)}
	})
	return struct {
		AccessKeyMetadata []accessKeyXML `xml:"AccessKeyMetadata>member"`
		list
	}{out, l}, err
}

func (a api) updateAccessKey(ctx context.Context, in *struct{ UserName, AccessKeyId, Status string }) error {
	return a.ids.UpdateAccessKey(ctx, in.UserName, in.AccessKeyId, in.Status)
}

func (a api) deleteAccessKey(ctx context.Context, in *struct{ UserName, AccessKeyId string }) error {
	return a.ids.DeleteAccessKey(ctx, in.UserName, in.AccessKeyId)
}

// Roles.

type roleResult struct{ Role roleXML }

func (a api) createRole(ctx context.Context, in *struct {
	RoleName, Path, AssumeRolePolicyDocument, Description string
	MaxSessionDuration                                    int
	Tags                                                  []identity.Tag
}) (roleResult, error) {
	r, err := a.ids.CreateRole(ctx, identity.RoleInput{Name: in.RoleName, Path: in.Path, TrustPolicy: in.AssumeRolePolicyDocument,
		Description: in.Description, MaxSessionDuration: in.MaxSessionDuration, Tags: in.Tags})
	return roleResult{roleOut(r)}, err
}

func (a api) getRole(ctx context.Context, in *struct{ RoleName string }) (roleResult, error) {
	r, err := a.ids.GetRole(ctx, in.RoleName)
	return roleResult{roleOut(r)}, err
}

func (a api) listRoles(ctx context.Context, in *struct {
	page
	PathPrefix string
}) (any, error) {
	rs, err := a.ids.ListRoles(ctx, in.PathPrefix)
	if err != nil {
		return nil, err
	}
	out, l, err := listOf(in.page, rs, roleOut)
	return struct {
		Roles []roleXML `xml:"Roles>member"`
		list
	}{out, l}, err
}

func (a api) deleteRole(ctx context.Context, in *struct{ RoleName string }) error {
	return a.ids.DeleteRole(ctx, in.RoleName)
}

func (a api) updateAssumeRolePolicy(ctx context.Context, in *struct{ RoleName, PolicyDocument string }) error {
	return a.ids.UpdateAssumeRolePolicy(ctx, in.RoleName, in.PolicyDocument)
}

// Inline policies.

type inlinePolicy struct {
	entity
	PolicyName, PolicyDocument string
}

func (a api) putPolicy(kind string) func(context.Context, *inlinePolicy) error {
	return func(ctx context.Context, in *inlinePolicy) error {
		return a.ids.PutEntityPolicy(ctx, kind, in.name(), in.PolicyName, in.PolicyDocument)
	}
}

func (a api) getPolicy(kind string) func(context.Context, *inlinePolicy) (any, error) {
	return func(ctx context.Context, in *inlinePolicy) (any, error) {
		stored, doc, err := a.ids.GetEntityPolicy(ctx, kind, in.name(), in.PolicyName)
		if err != nil {
			return nil, err
		}
		if kind == "role" {
			return struct{ RoleName, PolicyName, PolicyDocument string }{stored, in.PolicyName, encodeDocument(doc)}, nil
		}
		return struct{ UserName, PolicyName, PolicyDocument string }{stored, in.PolicyName, encodeDocument(doc)}, nil
	}
}

type entityPage struct {
	entity
	page
}

func (a api) listPolicies(kind string) func(context.Context, *entityPage) (any, error) {
	return func(ctx context.Context, in *entityPage) (any, error) {
		names, err := a.ids.ListEntityPolicies(ctx, kind, in.name())
		if err != nil {
			return nil, err
		}
		out, l, err := pageOf(in.page, names)
		return struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			list
		}{out, l}, err
	}
}

func (a api) deletePolicy(kind string) func(context.Context, *inlinePolicy) error {
	return func(ctx context.Context, in *inlinePolicy) error {
		return a.ids.DeleteEntityPolicy(ctx, kind, in.name(), in.PolicyName)
	}
}

// Managed policies.

type policyResult struct{ Policy policyXML }

func (a api) createManagedPolicy(ctx context.Context, in *struct {
	PolicyName, Path, PolicyDocument, Description string
	Tags                                          []identity.Tag
}) (policyResult, error) {
	p, err := a.ids.CreatePolicy(ctx, in.PolicyName, in.Path, in.PolicyDocument, in.Description, in.Tags)
	return policyResult{policyOut(p)}, err
}

func (a api) getManagedPolicy(ctx context.Context, in *struct{ PolicyArn string }) (policyResult, error) {
	p, err := a.ids.GetPolicy(ctx, in.PolicyArn)
	return policyResult{policyOut(p)}, err
}

func (a api) getPolicyVersion(ctx context.Context, in *struct{ PolicyArn, VersionId string }) (any, error) {
	v, err := a.ids.GetPolicyVersion(ctx, in.PolicyArn, in.VersionId)
	if err != nil {
		return nil, err
	}
	type versionXML struct {
		Document         string
		VersionId        string
		IsDefaultVersion bool
		CreateDate       string
	}
	return struct{ PolicyVersion versionXML }{versionXML{encodeDocument(v.Document), v.VersionID, v.IsDefault, isoTime(v.Created)}}, nil
}

func (a api) listManagedPolicies(ctx context.Context, in *struct {
	page
	Scope, PathPrefix string
	OnlyAttached      bool
}) (any, error) {
	ps, err := a.ids.ListPolicies(ctx, in.Scope, in.OnlyAttached, in.PathPrefix)
	if err != nil {
		return nil, err
	}
	out, l, err := listOf(in.page, ps, policyOut)
	return struct {
		Policies []policyXML `xml:"Policies>member"`
		list
	}{out, l}, err
}

func (a api) deleteManagedPolicy(ctx context.Context, in *struct{ PolicyArn string }) error {
	return a.ids.DeletePolicy(ctx, in.PolicyArn)
}

type attachment struct {
	entity
	PolicyArn string
}

func (a api) attach(kind string) func(context.Context, *attachment) error {
	return func(ctx context.Context, in *attachment) error {
		return a.ids.AttachPolicy(ctx, kind, in.name(), in.PolicyArn)
	}
}

func (a api) detach(kind string) func(context.Context, *attachment) error {
	return func(ctx context.Context, in *attachment) error {
		return a.ids.DetachPolicy(ctx, kind, in.name(), in.PolicyArn)
	}
}

func (a api) listAttached(kind string) func(context.Context, *entityPage) (any, error) {
	return func(ctx context.Context, in *entityPage) (any, error) {
		ps, err := a.ids.ListAttachedPolicies(ctx, kind, in.name())
		if err != nil {
			return nil, err
		}
		out, l, err := listOf(in.page, ps, func(p identity.AttachedPolicy) attachedXML { return attachedXML{p.Name, p.ARN} })
		return struct {
			AttachedPolicies []attachedXML `xml:"AttachedPolicies>member"`
			list
		}{out, l}, err
	}
}

// Tags.

func (a api) tag(kind string) func(context.Context, *struct {
	entity
	Tags []identity.Tag
}) error {
	return func(ctx context.Context, in *struct {
		entity
		Tags []identity.Tag
	}) error {
		return a.ids.TagEntity(ctx, kind, in.name(), in.Tags)
	}
}

func (a api) untag(kind string) func(context.Context, *struct {
	entity
	TagKeys []string
}) error {
	return func(ctx context.Context, in *struct {
		entity
		TagKeys []string
	}) error {
		return a.ids.UntagEntity(ctx, kind, in.name(), in.TagKeys)
	}
}

func (a api) listTags(kind string) func(context.Context, *entityPage) (any, error) {
	return func(ctx context.Context, in *entityPage) (any, error) {
		tags, err := a.ids.ListEntityTags(ctx, kind, in.name())
		if err != nil {
			return nil, err
		}
		out, l, err := listOf(in.page, tags, func(t identity.Tag) tagXML { return tagXML{t.Key, t.Value} })
		return struct {
			Tags []tagXML `xml:"Tags>member"`
			list
		}{out, l}, err
	}
}
