package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/coffer-dev/coffer/internal/identity"
)

func (h *Handler) switchRolePage(q *request) {
	h.render(q, http.StatusOK, "switchrole", "Switch role", nil, nil)
}

// switchRole assumes a role of an account (sts:AssumeRole as the signed-in
// user, session named after the user) and acts as it from then on.
func (h *Handler) switchRole(q *request) {
	account, role := strings.TrimSpace(q.r.PostFormValue("account")), strings.TrimSpace(q.r.PostFormValue("role"))
	in := identity.AssumeRoleInput{RoleARN: "arn:aws:iam::" + account + ":role/" + role, RoleSessionName: q.user.Name}
	var out identity.AssumedRole
	err := h.call(q, "sts", "AssumeRole", map[string]string{"RoleArn": in.RoleARN, "RoleSessionName": in.RoleSessionName}, func(ctx context.Context) (err error) {
		out, err = h.opts.Identity.AssumeRole(ctx, in)
		return err
	})
	if err != nil {
		h.render(q, http.StatusOK, "switchrole", "Switch role", nil, err)
		return
	}
	q.se.roleKey = out.Credentials.AccessKeyID
	h.sessions.update(q.se)
	redirect(q, "/console/", "You act as "+out.ARN+".")
}

// switchBack returns to acting as the signed-in user.
func (h *Handler) switchBack(q *request) {
	q.se.roleKey = ""
	h.sessions.update(q.se)
	redirect(q, "/console/", "You act as your IAM user again.")
}
