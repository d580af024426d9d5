// Package console is coffer's web console, served by `coffer serve` under
// /console/ on the API's own listener: server-rendered html/template pages
// and a little plain JavaScript, all from embed.FS, no build step.
//
// Sign-in is AWS's for IAM users: account ID, user name and the password
// of the user's login profile, then the code of the user's virtual MFA
// device if it has one (identity.ConsoleSignIn and ConsoleSignInMFA, with
// their lockout).
// Every page and action then runs as that user, through the same domain
// calls and authorization as the API, and each action lands in the audit
// trail like an API call (service, operation, parameters with secrets
// redacted, the authorization decisions); sign-ins land as CloudTrail's
// ConsoleLogin events of signin.amazonaws.com, with CloudTrail's
// additionalEventData {"LoginTo": the console URL, "MobileVersion": "No",
// "MFAUsed": "Yes"|"No"}.
// The Databases page lists each instance's DB snapshots (manual and AWS
// Backup's) and takes, deletes (manual ones) and restores them through
// rds.Service's CreateSnapshot, DescribeSnapshots, DeleteSnapshot and
// RestoreFromSnapshot, audited as the RDS API's operations.
//
// Wire format of a session:
//
//   - cookie "coffer_console": 32 random bytes, base64url without padding;
//     HttpOnly, SameSite=Strict, Path=/console/, Secure when the request
//     came over TLS. The server keeps, in memory, keyed by the SHA-256 of
//     the cookie value: account, user name, CSRF token, region, creation
//     time and last use. A session ends at sign-out, after Options.IdleTimeout
//     without a request, after Options.MaxLifetime, or when the user's
//     login profile is deleted. Sessions live in one process: a restart, or
//     another node, signs users out.
//   - cookie "coffer_console_mfa" (same attributes, five minutes): a
//     sign-in whose password was right, waiting for the user's MFA code;
//     the server keeps account, user name, its own CSRF token and the
//     page to go to, keyed by the SHA-256 of the value.
//   - switch role: the session also keeps the access key ID of the role
//     session sts:AssumeRole gave the user; requests act as that session
//     until it expires or the user switches back.
//   - CSRF: every state-changing request is a POST carrying the form field
//     "csrf" equal to the session's token (32 random bytes, base64url); the
//     sign-in form, before a session exists, carries the value of the
//     cookie "coffer_console_signin" (double submit). A POST whose Origin
//     header names another host is refused too.
package console
