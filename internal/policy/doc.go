// Package policy is the IAM policy language: a parser and validator for
// policy documents and an evaluator that decides requests with AWS's
// documented policy evaluation logic. It is pure: no I/O, no clock (the
// caller passes Now), no knowledge of where policies are stored. The
// identity, KMS and backup services collect the policies that apply to a
// request and ask Evaluate; AccessDenied messages come from
// Decision.Message.
//
// # Grammar
//
// The JSON grammar accepted by Parse (IAM JSON policy grammar,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html):
//
//	policy      = { "Version"?: "2012-10-17" | "2008-10-17",
//	                "Id"?: string,
//	                "Statement": statement | [ statement, ... ] }
//	statement   = { "Sid"?: string,
//	                "Effect": "Allow" | "Deny",
//	                ("Principal" | "NotPrincipal")?: principal,
//	                ("Action" | "NotAction"): strings,
//	                ("Resource" | "NotResource")?: strings,
//	                "Condition"?: { operator: { key: values, ... }, ... } }
//	principal   = "*" | { ("AWS" | "Service"): strings, ... }
//	strings     = string | [ string, ... ]          (arrays must not be empty)
//	values      = value | [ value, ... ]            (value: string, number or boolean)
//	operator    = [ ("ForAllValues" | "ForAnyValue") ":" ] name [ "IfExists" ]
//
// Field names are case-sensitive and unknown fields are rejected. Checks:
//
//   - Version: absent means legacy behaviour (policy variables are literal
//     text); any other value than the two dates is an error.
//   - Sid: unique within the policy; alphanumeric in identity and trust
//     policies (resource policies such as KMS key policies allow spaces).
//   - Principal "AWS" values: "*", a 12-digit account ID (normalised to
//     arn:aws:iam::ID:root), or the ARN of an account root, user, role,
//     role session (arn:aws:sts::ID:assumed-role/ROLE/SESSION) or federated
//     user; wildcards are not allowed inside ARNs. "Service" values are
//     service principal names such as backup.amazonaws.com. "Federated" and
//     "CanonicalUser" are rejected as unsupported.
//   - Action: "*" or "vendor:pattern" where the pattern may use * and ?;
//     matched case-insensitively. Trust policies allow only sts: actions.
//   - Resource: "*" or an ARN, possibly with * and ? (matched
//     case-sensitively, component by component for the first five
//     components, as the Resource element and ArnLike do).
//   - Condition: operator names are the ones AWS documents
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
//     String(Not)Equals(IgnoreCase), String(Not)Like, Numeric{Equals,
//     NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals},
//     Date{same}, Bool, BinaryEquals, IpAddress, NotIpAddress,
//     Arn(Not)Equals, Arn(Not)Like, Null. Keys must be "vendor:name".
//     Literal values are checked for numeric, date (ISO 8601 or epoch
//     seconds), IP/CIDR, base64 and Null operators.
//   - Kind: identity policies must not have Principal and must have
//     Resource; resource and trust policies must have Principal; trust
//     policies must not have Resource.
//   - Size: ParseOptions.MaxSize, counted without whitespace as IAM does,
//     or with it (CountWhitespace) as KMS does. The error wraps ErrTooLarge.
//
// Every error is a *ValidationError whose message names the problem the
// way IAM's MalformedPolicyDocument messages do.
//
// Policy variables (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)
// — ${key}, ${key, 'default'}, ${*}, ${?}, ${$} — are substituted in
// Resource and condition values of "2012-10-17" policies. A substituted
// value is always literal (a '*' in a user name is not a wildcard). A
// variable whose key is absent and has no default makes that value match
// nothing.
//
// # Conditions
//
// Keys are case-insensitive, values case-sensitive (except the IgnoreCase
// operators). Operators in a Condition block and keys within an operator
// are ANDed; the values of one key are ORed. When the request lacks the
// key, the condition is false, except: ...IfExists is true; a negated
// operator (StringNotEquals, StringNotLike, NumericNotEquals,
// DateNotEquals, NotIpAddress, ArnNotEquals, ArnNotLike) is true;
// ForAllValues is true; ForAnyValue is false; Null tests presence. With a
// multivalued key: ForAnyValue needs one request value to match,
// ForAllValues every one; for a negated operator a request value
// "matches" when it equals none of the policy values. Without a set
// operator a positive operator needs any value to match and a negated one
// needs none to match (NOR of the policy values). See
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html.
//
// Request.Context is an open map of key to values: global keys (keys.go),
// service keys (kms:ViaService, kms:EncryptionContext:*, backup:CopyTargets,
// ...). Evaluate derives the aws:Principal* keys, aws:userid,
// aws:username, aws:CurrentTime and aws:EpochTime from the Request unless
// the Context sets them.
//
// # Evaluation
//
// Evaluate follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
// and its cross-account page
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
// A statement applies when its Principal names the caller (or its
// NotPrincipal does not), its Action and Resource match, and all its
// conditions hold.
//
//  1. A Deny statement that applies, in any policy (identity-based,
//     resource-based, SCP, RCP, permissions boundary, session policy),
//     denies. A resource policy's Deny naming the account applies to every
//     principal of the account.
//  2. Every ServiceControl and ResourceControl guard (one per level of the
//     organization) must have an applicable Allow.
//  3. Service principals and anonymous callers are allowed only by a
//     resource-based policy that names them (or "*").
//     Same account: a resource-based policy that names the caller's ARN,
//     its role or "*" allows by itself; one that names only the account
//     (ID or :root ARN) delegates to IAM, so an identity-based policy must
//     allow. Otherwise an identity-based policy must allow. The account
//     root user is allowed by its identity (it needs no policy).
//     Cross account: a resource-based policy must allow (naming the caller
//     or its account) and an identity-based policy must allow.
//     ResourcePolicyRequired (KMS key policies,
//     https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html):
//     same as cross account, except that a key policy naming the caller
//     directly allows by itself; the root user is not exempt.
//  4. Every PermissionsBoundary and SessionPolicy guard must allow, except
//     when the request was allowed in the same account by a resource-based
//     policy naming the IAM user or role session ARN itself.
//
// Principals are matched through all their names: the account root ARN
// (account level), the role ARN (for sessions) and their own ARN. A
// NotPrincipal statement applies unless all of them are listed.
//
// The Decision records which statements allowed, which one denied, or
// which kind of policy had no Allow; Message renders AWS's AccessDenied
// text: "User: ARN is not authorized to perform: ACTION on resource: ARN
// because no resource-based policy allows the ACTION action", "... with an
// explicit deny in an identity-based policy".
package policy
