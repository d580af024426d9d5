package console

import (
	"context"
	"strings"

	"github.com/coffer-dev/coffer/internal/kms"
)

// keyGrants lists the first 100 grants on a key (KMS's largest page);
// Truncated says there are more.
func (h *Handler) keyGrants(q *request, keyID string) (*kms.ListGrantsOutput, error) {
	in := &kms.ListGrantsInput{KeyId: keyID, Limit: 100}
	var out *kms.ListGrantsOutput
	err := h.call(q, "kms", "ListGrants", in, func(ctx context.Context) (err error) {
		out, err = h.opts.KMS.ListGrants(ctx, in)
		return err
	})
	return out, err
}

// createGrant gives a principal the operations listed in the form
// (separated by commas or spaces) on the key.
func (h *Handler) createGrant(q *request) {
	in := &kms.CreateGrantInput{KeyId: q.r.PathValue("id"), GranteePrincipal: strings.TrimSpace(q.r.PostFormValue("grantee")),
		RetiringPrincipal: strings.TrimSpace(q.r.PostFormValue("retiring")), Name: strings.TrimSpace(q.r.PostFormValue("name")),
		Operations: strings.FieldsFunc(q.r.PostFormValue("operations"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })}
	var out *kms.CreateGrantOutput
	if err := h.call(q, "kms", "CreateGrant", in, func(ctx context.Context) (err error) {
		out, err = h.opts.KMS.CreateGrant(ctx, in)
		return err
	}); err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+in.KeyId, "Grant "+out.GrantId+" created.")
}

// revokeGrant deletes a grant of the key.
func (h *Handler) revokeGrant(q *request) {
	in := &kms.RevokeGrantInput{KeyId: q.r.PathValue("id"), GrantId: q.r.PostFormValue("grant")}
	if err := h.call(q, "kms", "RevokeGrant", in, func(ctx context.Context) error { return h.opts.KMS.RevokeGrant(ctx, in) }); err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+in.KeyId, "Grant "+in.GrantId+" revoked.")
}
