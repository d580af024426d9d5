// Package iam is the API adapter for the AWS IAM subset coffer serves
// (awsQuery, version 2010-05-08): users, access keys, roles, inline and
// managed policies, attachments and tags. IAM is global: its ARNs have no
// region and it answers whatever region a request is signed for.
package iam

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

type api struct{ ids *identity.Service }

// New returns the IAM endpoint.
func New(ids *identity.Service) *protocol.QueryService {
	a := api{ids}
	svc := &protocol.QueryService{
		Name:         "iam",
		Version:      "2010-05-08",
		XMLNamespace: "https://iam.amazonaws.com/doc/2010-05-08/",
		Ops: map[string]protocol.QueryOp{
			"CreateUser":               a.createUser,
			"GetUser":                  a.getUser,
			"ListUsers":                a.listUsers,
			"DeleteUser":               a.deleteUser,
			"CreateAccessKey":          a.createAccessKey,
			"ListAccessKeys":           a.listAccessKeys,
			"UpdateAccessKey":          a.updateAccessKey,
			"DeleteAccessKey":          a.deleteAccessKey,
			"CreateRole":               a.createRole,
			"GetRole":                  a.getRole,
			"ListRoles":                a.listRoles,
			"DeleteRole":               a.deleteRole,
			"UpdateAssumeRolePolicy":   a.updateAssumeRolePolicy,
			"PutUserPolicy":            a.putPolicy("user"),
			"PutRolePolicy":            a.putPolicy("role"),
			"GetUserPolicy":            a.getPolicy("user"),
			"GetRolePolicy":            a.getPolicy("role"),
			"ListUserPolicies":         a.listPolicies("user"),
			"ListRolePolicies":         a.listPolicies("role"),
			"DeleteUserPolicy":         a.deletePolicy("user"),
			"DeleteRolePolicy":         a.deletePolicy("role"),
			"CreatePolicy":             a.createManagedPolicy,
			"GetPolicy":                a.getManagedPolicy,
			"GetPolicyVersion":         a.getPolicyVersion,
			"ListPolicies":             a.listManagedPolicies,
			"DeletePolicy":             a.deleteManagedPolicy,
			"AttachUserPolicy":         a.attach("user"),
			"AttachRolePolicy":         a.attach("role"),
			"DetachUserPolicy":         a.detach("user"),
			"DetachRolePolicy":         a.detach("role"),
			"ListAttachedUserPolicies": a.listAttached("user"),
			"ListAttachedRolePolicies": a.listAttached("role"),
			"TagUser":                  a.tag("user"),
			"TagRole":                  a.tag("role"),
			"UntagUser":                a.untag("user"),
			"UntagRole":                a.untag("role"),
			"ListUserTags":             a.listTags("user"),
			"ListRoleTags":             a.listTags("role"),
		},
	}
	for name, op := range a.passwordOps() {
		svc.Ops[name] = op
	}
	for name, op := range a.mfaOps() {
		svc.Ops[name] = op
	}
	return svc
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

func formTags(form url.Values) []identity.Tag {
	var tags []identity.Tag
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i)
		k, ok := form[p+".Key"]
		if !ok {
			return tags
		}
		tags = append(tags, identity.Tag{Key: k[0], Value: form.Get(p + ".Value")})
	}
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

// required returns a form parameter that must be present.
func required(form url.Values, name string) (string, error) {
	v := form.Get(name)
	if v == "" {
		field := strings.ToLower(name[:1]) + name[1:]
		return "", awserr.New(awserr.Invalid, "ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return v, nil
}

// listOf pages items with Marker and MaxItems and converts the page to
// its wire shape.
func listOf[T, X any](form url.Values, items []T, conv func(T) X) ([]X, bool, string, error) {
	page, truncated, marker, err := pageOf(form, items)
	if err != nil {
		return nil, false, "", err
	}
	out := make([]X, len(page))
	for i, v := range page {
		out[i] = conv(v)
	}
	return out, truncated, marker, nil
}

// pageOf applies Marker and MaxItems (1-1000, default 100).
func pageOf[T any](form url.Values, items []T) ([]T, bool, string, error) {
	limit := 100
	if s := form.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return nil, false, "", awserr.New(awserr.Invalid, "ValidationError", "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", s)
		}
		limit = n
	}
	page, next, ok := paginate.Page(items, form.Get("Marker"), limit)
	if !ok {
		return nil, false, "", awserr.New(awserr.Invalid, "InvalidInput", "Invalid Marker.")
	}
	return page, next != "", next, nil
}

// Users.

func (a api) createUser(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "UserName")
	if err != nil {
		return nil, err
	}
	u, err := a.ids.CreateUser(ctx, name, form.Get("Path"), formTags(form))
	if err != nil {
		return nil, err
	}
	return struct{ User userXML }{userOut(u)}, nil
}

func (a api) getUser(ctx context.Context, form url.Values) (any, error) {
	u, err := a.ids.GetUser(ctx, form.Get("UserName"))
	if err != nil {
		return nil, err
	}
	return struct{ User userXML }{userOut(u)}, nil
}

func (a api) listUsers(ctx context.Context, form url.Values) (any, error) {
	us, err := a.ids.ListUsers(ctx, form.Get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	page, truncated, marker, err := listOf(form, us, userOut)
	if err != nil {
		return nil, err
	}
	return struct {
		Users       []userXML `xml:"Users>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	}{page, truncated, marker}, nil
}

func (a api) deleteUser(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "UserName")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.DeleteUser(ctx, name)
}

// Access keys.

func (a api) createAccessKey(ctx context.Context, form url.Values) (any, error) {
	k, err := a.ids.CreateAccessKey(ctx, form.Get("UserName"))
	if err != nil {
		return nil, err
	}
	return struct{ AccessKey accessKeyXML }{accessKeyXML{k.UserName, k.AccessKeyID, k.Status, k.Secret, isoTime(k.Created)}}, nil
}

func (a api) listAccessKeys(ctx context.Context, form url.Values) (any, error) {
	ks, err := a.ids.ListAccessKeys(ctx, form.Get("UserName"))
	if err != nil {
		return nil, err
	}
	page, truncated, marker, err := listOf(form, ks, func(k identity.AccessKey) accessKeyXML {
		return accessKeyXML{UserName: k.UserName, AccessKeyId: k.AccessKeyID, Status: k.Status, CreateDate: isoTime(k.Created)}
	})
	if err != nil {
		return nil, err
	}
	return struct {
		AccessKeyMetadata []accessKeyXML `xml:"AccessKeyMetadata>member"`
		IsTruncated       bool
		Marker            string `xml:",omitempty"`
	}{page, truncated, marker}, nil
}

func (a api) updateAccessKey(ctx context.Context, form url.Values) (any, error) {
	id, err := required(form, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	status, err := required(form, "Status")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.UpdateAccessKey(ctx, form.Get("UserName"), id, status)
}

func (a api) deleteAccessKey(ctx context.Context, form url.Values) (any, error) {
	id, err := required(form, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.DeleteAccessKey(ctx, form.Get("UserName"), id)
}

// Roles.

func (a api) createRole(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "RoleName")
	if err != nil {
		return nil, err
	}
	doc, err := required(form, "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	in := identity.RoleInput{Name: name, Path: form.Get("Path"), TrustPolicy: doc, Description: form.Get("Description"), Tags: formTags(form)}
	if s := form.Get("MaxSessionDuration"); s != "" {
		if in.MaxSessionDuration, err = strconv.Atoi(s); err != nil {
			return nil, awserr.New(awserr.Invalid, "ValidationError", "MaxSessionDuration %q is not a number of seconds", s)
		}
	}
	r, err := a.ids.CreateRole(ctx, in)
	if err != nil {
		return nil, err
	}
	return struct{ Role roleXML }{roleOut(r)}, nil
}

func (a api) getRole(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "RoleName")
	if err != nil {
		return nil, err
	}
	r, err := a.ids.GetRole(ctx, name)
	if err != nil {
		return nil, err
	}
	return struct{ Role roleXML }{roleOut(r)}, nil
}

func (a api) listRoles(ctx context.Context, form url.Values) (any, error) {
	rs, err := a.ids.ListRoles(ctx, form.Get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	page, truncated, marker, err := listOf(form, rs, roleOut)
	if err != nil {
		return nil, err
	}
	return struct {
		Roles       []roleXML `xml:"Roles>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	}{page, truncated, marker}, nil
}

func (a api) deleteRole(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "RoleName")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.DeleteRole(ctx, name)
}

func (a api) updateAssumeRolePolicy(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "RoleName")
	if err != nil {
		return nil, err
	}
	doc, err := required(form, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.UpdateAssumeRolePolicy(ctx, name, doc)
}

// entityParam is the form parameter naming the user or role.
func entityParam(kind string) string {
	if kind == "role" {
		return "RoleName"
	}
	return "UserName"
}

// Inline policies.

func (a api) putPolicy(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		name, err := required(form, "PolicyName")
		if err != nil {
			return nil, err
		}
		doc, err := required(form, "PolicyDocument")
		if err != nil {
			return nil, err
		}
		return nil, a.ids.PutEntityPolicy(ctx, kind, entity, name, doc)
	}
}

func (a api) getPolicy(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		name, err := required(form, "PolicyName")
		if err != nil {
			return nil, err
		}
		stored, doc, err := a.ids.GetEntityPolicy(ctx, kind, entity, name)
		if err != nil {
			return nil, err
		}
		if kind == "role" {
			return struct{ RoleName, PolicyName, PolicyDocument string }{stored, name, encodeDocument(doc)}, nil
		}
		return struct{ UserName, PolicyName, PolicyDocument string }{stored, name, encodeDocument(doc)}, nil
	}
}

func (a api) listPolicies(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		names, err := a.ids.ListEntityPolicies(ctx, kind, entity)
		if err != nil {
			return nil, err
		}
		page, truncated, marker, err := pageOf(form, names)
		if err != nil {
			return nil, err
		}
		return struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			IsTruncated bool
			Marker      string `xml:",omitempty"`
		}{page, truncated, marker}, nil
	}
}

func (a api) deletePolicy(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		name, err := required(form, "PolicyName")
		if err != nil {
			return nil, err
		}
		return nil, a.ids.DeleteEntityPolicy(ctx, kind, entity, name)
	}
}

// Managed policies.

func (a api) createManagedPolicy(ctx context.Context, form url.Values) (any, error) {
	name, err := required(form, "PolicyName")
	if err != nil {
		return nil, err
	}
	doc, err := required(form, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	p, err := a.ids.CreatePolicy(ctx, name, form.Get("Path"), doc, form.Get("Description"), formTags(form))
	if err != nil {
		return nil, err
	}
	return struct{ Policy policyXML }{policyOut(p)}, nil
}

func (a api) getManagedPolicy(ctx context.Context, form url.Values) (any, error) {
	arn, err := required(form, "PolicyArn")
	if err != nil {
		return nil, err
	}
	p, err := a.ids.GetPolicy(ctx, arn)
	if err != nil {
		return nil, err
	}
	return struct{ Policy policyXML }{policyOut(p)}, nil
}

func (a api) getPolicyVersion(ctx context.Context, form url.Values) (any, error) {
	arn, err := required(form, "PolicyArn")
	if err != nil {
		return nil, err
	}
	version, err := required(form, "VersionId")
	if err != nil {
		return nil, err
	}
	v, err := a.ids.GetPolicyVersion(ctx, arn, version)
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

func (a api) listManagedPolicies(ctx context.Context, form url.Values) (any, error) {
	onlyAttached := strings.EqualFold(form.Get("OnlyAttached"), "true")
	ps, err := a.ids.ListPolicies(ctx, form.Get("Scope"), onlyAttached, form.Get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	page, truncated, marker, err := listOf(form, ps, policyOut)
	if err != nil {
		return nil, err
	}
	return struct {
		Policies    []policyXML `xml:"Policies>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	}{page, truncated, marker}, nil
}

func (a api) deleteManagedPolicy(ctx context.Context, form url.Values) (any, error) {
	arn, err := required(form, "PolicyArn")
	if err != nil {
		return nil, err
	}
	return nil, a.ids.DeletePolicy(ctx, arn)
}

func (a api) attach(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		arn, err := required(form, "PolicyArn")
		if err != nil {
			return nil, err
		}
		return nil, a.ids.AttachPolicy(ctx, kind, entity, arn)
	}
}

func (a api) detach(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		arn, err := required(form, "PolicyArn")
		if err != nil {
			return nil, err
		}
		return nil, a.ids.DetachPolicy(ctx, kind, entity, arn)
	}
}

func (a api) listAttached(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		ps, err := a.ids.ListAttachedPolicies(ctx, kind, entity)
		if err != nil {
			return nil, err
		}
		page, truncated, marker, err := listOf(form, ps, func(p identity.AttachedPolicy) attachedXML { return attachedXML{p.Name, p.ARN} })
		if err != nil {
			return nil, err
		}
		return struct {
			AttachedPolicies []attachedXML `xml:"AttachedPolicies>member"`
			IsTruncated      bool
			Marker           string `xml:",omitempty"`
		}{page, truncated, marker}, nil
	}
}

// Tags.

func (a api) tag(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		return nil, a.ids.TagEntity(ctx, kind, entity, formTags(form))
	}
}

func (a api) untag(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		keys := protocol.QueryMembers(form, "TagKeys", "member")
		if len(keys) == 0 {
			return nil, awserr.New(awserr.Invalid, "ValidationError", "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
		}
		return nil, a.ids.UntagEntity(ctx, kind, entity, keys)
	}
}

func (a api) listTags(kind string) protocol.QueryOp {
	return func(ctx context.Context, form url.Values) (any, error) {
		entity, err := required(form, entityParam(kind))
		if err != nil {
			return nil, err
		}
		tags, err := a.ids.ListEntityTags(ctx, kind, entity)
		if err != nil {
			return nil, err
		}
		page, truncated, marker, err := listOf(form, tags, func(t identity.Tag) tagXML { return tagXML{t.Key, t.Value} })
		if err != nil {
			return nil, err
		}
		return struct {
			Tags        []tagXML `xml:"Tags>member"`
			IsTruncated bool
			Marker      string `xml:",omitempty"`
		}{page, truncated, marker}, nil
	}
}
