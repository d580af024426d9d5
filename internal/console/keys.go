package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/kms"
)

func (h *Handler) routeKeys(m *http.ServeMux) {
	m.HandleFunc("GET /console/keys", h.authed(h.keys))
	m.HandleFunc("POST /console/keys", h.authed(h.createKey))
	m.HandleFunc("GET /console/keys/{id}", h.authed(h.key))
	m.HandleFunc("POST /console/keys/{id}/policy", h.authed(h.putKeyPolicy))
	m.HandleFunc("POST /console/keys/{id}/state", h.authed(h.setKeyState))
	m.HandleFunc("POST /console/keys/{id}/alias", h.authed(h.createAlias))
	m.HandleFunc("POST /console/keys/{id}/rotation", h.authed(h.setRotation))
	m.HandleFunc("POST /console/keys/{id}/deletion", h.authed(h.keyDeletion))
	m.HandleFunc("POST /console/keys/{id}/grants", h.authed(h.createGrant))
	m.HandleFunc("POST /console/keys/{id}/grants/revoke", h.authed(h.revokeGrant))
}

// keyRow is a key with its aliases, as the key list and the vault key
// chooser show it.
type keyRow struct {
	*kms.KeyMetadata
	Aliases []string
}

// Customer reports whether the key is customer managed.
func (k keyRow) Customer() bool { return k.KeyManager == "CUSTOMER" }

// keyRows lists the caller's keys in the session's region with their
// aliases.
func (h *Handler) keyRows(q *request) ([]keyRow, error) {
	var list *kms.ListKeysOutput
	if err := h.call(q, "kms", "ListKeys", struct{}{}, func(ctx context.Context) (err error) {
		list, err = h.opts.KMS.ListKeys(ctx, &kms.ListKeysInput{Limit: 1000})
		return err
	}); err != nil {
		return nil, err
	}
	var aliases *kms.ListAliasesOutput
	if err := h.call(q, "kms", "ListAliases", struct{}{}, func(ctx context.Context) (err error) {
		aliases, err = h.opts.KMS.ListAliases(ctx, &kms.ListAliasesInput{Limit: 100})
		return err
	}); err != nil {
		return nil, err
	}
	byKey := map[string][]string{}
	for _, a := range aliases.Aliases {
		byKey[a.TargetKeyId] = append(byKey[a.TargetKeyId], a.AliasName)
	}
	var rows []keyRow
	for _, k := range list.Keys {
		in := &kms.KeyInput{KeyId: k.KeyId}
		var md *kms.KeyMetadata
		if err := h.call(q, "kms", "DescribeKey", in, func(ctx context.Context) (err error) {
			md, err = h.opts.KMS.DescribeKey(ctx, in)
			return err
		}); err != nil {
			return nil, err
		}
		rows = append(rows, keyRow{md, byKey[k.KeyId]})
	}
	return rows, nil
}

func (h *Handler) keys(q *request) { h.showKeys(q, nil) }

type keysData struct {
	Keys        []keyRow
	SharePolicy string
}

func (h *Handler) showKeys(q *request, actionErr error) {
	rows, err := h.keyRows(q)
	if actionErr == nil {
		actionErr = err
	}
	h.render(q, http.StatusOK, "keys", "KMS keys", keysData{rows, sharePolicy(q.se.account, "OTHER_ACCOUNT_ID")}, actionErr)
}

// sharePolicy is the seed's key policy: the account administers its key
// and another account may use it (the backup account decrypting the
// source account's recovery points).
func sharePolicy(account, other string) string {
	return `{
  "Version": "2012-10-17",
  "Id": "key-share-with-account",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::` + account + `:root"},
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow use of the key by another account",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::` + other + `:root"},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*"
    },
    {
      "Sid": "Allow attachment of persistent resources",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::` + other + `:root"},
      "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
      "Resource": "*",
      "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    }
  ]
}`
}

func (h *Handler) createKey(q *request) {
	in := &kms.CreateKeyInput{Description: q.r.PostFormValue("description"), Policy: strings.TrimSpace(q.r.PostFormValue("policy"))}
	var md *kms.KeyMetadata
	err := h.call(q, "kms", "CreateKey", in, func(ctx context.Context) (err error) {
		md, err = h.opts.KMS.CreateKey(ctx, in)
		return err
	})
	if err != nil {
		h.showKeys(q, err)
		return
	}
	if alias := strings.TrimSpace(q.r.PostFormValue("alias")); alias != "" {
		ain := &kms.AliasInput{AliasName: alias, TargetKeyId: md.KeyId}
		if err := h.call(q, "kms", "CreateAlias", ain, func(ctx context.Context) error { return h.opts.KMS.CreateAlias(ctx, ain) }); err != nil {
			h.showKeys(q, err)
			return
		}
	}
	redirect(q, "/console/keys/"+md.KeyId, "Key "+md.KeyId+" created.")
}

type keyData struct {
	Key         keyRow
	Policy      string
	SharePolicy string
	Rotation    *kms.RotationStatus
	Grants      *kms.ListGrantsOutput
}

func (h *Handler) key(q *request) { h.showKey(q, nil) }

func (h *Handler) showKey(q *request, actionErr error) {
	id := q.r.PathValue("id")
	in := &kms.KeyInput{KeyId: id}
	var md *kms.KeyMetadata
	err := h.call(q, "kms", "DescribeKey", in, func(ctx context.Context) (err error) {
		md, err = h.opts.KMS.DescribeKey(ctx, in)
		return err
	})
	if err != nil {
		h.render(q, http.StatusOK, "error", "KMS key "+id, nil, err)
		return
	}
	d := keyData{Key: keyRow{KeyMetadata: md}, SharePolicy: sharePolicy(q.se.account, "OTHER_ACCOUNT_ID")}
	pin := &kms.KeyPolicyInput{KeyId: md.KeyId, PolicyName: "default"}
	if err := h.call(q, "kms", "GetKeyPolicy", pin, func(ctx context.Context) (err error) {
		d.Policy, err = h.opts.KMS.GetKeyPolicy(ctx, pin)
		return err
	}); err != nil && actionErr == nil {
		actionErr = err
	}
	ain := &kms.ListAliasesInput{KeyId: md.KeyId}
	if err := h.call(q, "kms", "ListAliases", ain, func(ctx context.Context) error {
		out, err := h.opts.KMS.ListAliases(ctx, ain)
		if err == nil {
			for _, a := range out.Aliases {
				d.Key.Aliases = append(d.Key.Aliases, a.AliasName)
			}
		}
		return err
	}); err != nil && actionErr == nil {
		actionErr = err
	}
	if md.KeyManager == "CUSTOMER" && md.KeySpec == "SYMMETRIC_DEFAULT" {
		rin := &kms.KeyInput{KeyId: md.KeyId}
		if err := h.call(q, "kms", "GetKeyRotationStatus", rin, func(ctx context.Context) (err error) {
			d.Rotation, err = h.opts.KMS.GetKeyRotationStatus(ctx, rin)
			return err
		}); err != nil && actionErr == nil {
			actionErr = err
		}
	}
	if d.Key.Customer() {
		if d.Grants, err = h.keyGrants(q, md.KeyId); err != nil && actionErr == nil {
			actionErr = err
		}
	}
	if q.r.Method == http.MethodPost && q.r.PostFormValue("policy") != "" {
		d.Policy = q.r.PostFormValue("policy")
	}
	h.render(q, http.StatusOK, "key", "KMS key "+md.KeyId, d, actionErr)
}

func (h *Handler) putKeyPolicy(q *request) {
	in := &kms.PutKeyPolicyInput{KeyId: q.r.PathValue("id"), PolicyName: "default", Policy: q.r.PostFormValue("policy")}
	if err := h.call(q, "kms", "PutKeyPolicy", in, func(ctx context.Context) error { return h.opts.KMS.PutKeyPolicy(ctx, in) }); err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+in.KeyId, "Key policy saved.")
}

func (h *Handler) setKeyState(q *request) {
	in := &kms.KeyInput{KeyId: q.r.PathValue("id")}
	op, fn := "DisableKey", h.opts.KMS.DisableKey
	if q.r.PostFormValue("enabled") == "true" {
		op, fn = "EnableKey", h.opts.KMS.EnableKey
	}
	if err := h.call(q, "kms", op, in, func(ctx context.Context) error { return fn(ctx, in) }); err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+in.KeyId, op+" done.")
}

func (h *Handler) createAlias(q *request) {
	in := &kms.AliasInput{AliasName: strings.TrimSpace(q.r.PostFormValue("alias")), TargetKeyId: q.r.PathValue("id")}
	if err := h.call(q, "kms", "CreateAlias", in, func(ctx context.Context) error { return h.opts.KMS.CreateAlias(ctx, in) }); err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+in.TargetKeyId, "Alias "+in.AliasName+" created.")
}

// setRotation turns automatic rotation on (with its period) or off.
func (h *Handler) setRotation(q *request) {
	id := q.r.PathValue("id")
	var err error
	op := "DisableKeyRotation"
	if q.r.PostFormValue("enabled") == "true" {
		op = "EnableKeyRotation"
		in := &kms.RotationInput{KeyId: id}
		if v := q.r.PostFormValue("period"); v != "" {
			if in.RotationPeriodInDays, err = strconv.Atoi(v); err != nil {
				h.showKey(q, message("The rotation period is a number of days."))
				return
			}
		}
		err = h.call(q, "kms", op, in, func(ctx context.Context) error { return h.opts.KMS.EnableKeyRotation(ctx, in) })
	} else {
		in := &kms.KeyInput{KeyId: id}
		err = h.call(q, "kms", op, in, func(ctx context.Context) error { return h.opts.KMS.DisableKeyRotation(ctx, in) })
	}
	if err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+id, op+" done.")
}

// keyDeletion schedules the key's deletion after a waiting period, or
// cancels it.
func (h *Handler) keyDeletion(q *request) {
	id := q.r.PathValue("id")
	var err error
	op := "CancelKeyDeletion"
	if q.r.PostFormValue("schedule") == "true" {
		op = "ScheduleKeyDeletion"
		in := &kms.ScheduleKeyDeletionInput{KeyId: id}
		if in.PendingWindowInDays, err = strconv.Atoi(q.r.PostFormValue("days")); err != nil {
			h.showKey(q, message("The waiting period is a number of days, 7 to 30."))
			return
		}
		err = h.call(q, "kms", op, in, func(ctx context.Context) error {
			_, err := h.opts.KMS.ScheduleKeyDeletion(ctx, in)
			return err
		})
	} else {
		in := &kms.KeyInput{KeyId: id}
		err = h.call(q, "kms", op, in, func(ctx context.Context) error {
			_, err := h.opts.KMS.CancelKeyDeletion(ctx, in)
			return err
		})
	}
	if err != nil {
		h.showKey(q, err)
		return
	}
	redirect(q, "/console/keys/"+id, op+" done.")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
