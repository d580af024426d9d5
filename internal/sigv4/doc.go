// Package sigv4 verifies AWS Signature Version 4 (AWS4-HMAC-SHA256) on
// incoming requests, the way AWS's non-S3 services do, so that the AWS CLI,
// botocore and aws-sdk-go-v2 pointed at coffer with --endpoint-url are
// accepted. It is pure: the only outside call is CredentialLookup.
//
// # Where the signature is
//
// Header form:
//
//	Authorization: AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request, SignedHeaders=<h1;h2;...>, Signature=<64 hex>
//	X-Amz-Date: <yyyymmdd>T<hhmmss>Z          (or, failing that, an RFC 1123 Date header)
//	X-Amz-Security-Token: <token>             (temporary credentials only)
//
// Presigned (query) form, all in the query string:
//
//	X-Amz-Algorithm=AWS4-HMAC-SHA256
//	X-Amz-Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request
//	X-Amz-Date=<yyyymmdd>T<hhmmss>Z
//	X-Amz-Expires=<seconds, 0..604800>        (optional; without it the ±15 min rule applies)
//	X-Amz-SignedHeaders=<h1;h2;...>
//	X-Amz-Security-Token=<token>              (temporary credentials only)
//	X-Amz-Signature=<64 hex>
//
// A request carrying both forms is rejected. ParseScope reads the
// credential scope from either form without verifying anything.
//
// # Canonical request
//
// Six lines joined by "\n" (the headers block ends with its own "\n", so an
// empty line follows it):
//
//	<METHOD>
//	<canonical URI>
//	<canonical query>
//	<name1>:<value1>\n<name2>:<value2>\n...
//	<SignedHeaders, exactly as sent>
//	<payload hash>
//
// Canonical URI: the path exactly as the client sent it, still
// percent-encoded (r.RequestURI on the server, else r.URL.EscapedPath), then
// URI-encoded once more: every byte outside A-Z a-z 0-9 - _ . ~ and '/'
// becomes %XX with uppercase hex. An encoded ARN segment "arn%3Aaws%3A..."
// thus appears as "arn%253Aaws%253A...". This double encoding is what every
// AWS SDK does for non-S3 services. If that does not match, the path
// normalized as botocore does before signing (empty, "." and ".." segments
// removed, trailing slash kept) is tried too.
//
// Canonical query: the raw query split on '&', each pair split at the first
// '='; name and value are decoded ('+' is a space) and re-encoded with the
// same unreserved set (a space is %20, '/' is %2F); pairs are sorted by
// encoded name, then encoded value, and joined as name=value with '&'. A
// name without '=' gets an empty value. For presigned requests
// X-Amz-Signature is left out.
//
// Canonical headers: for each name in SignedHeaders, in that order, the
// lowercase name, ':', and the header's values (matched case-insensitively)
// each trimmed with runs of spaces collapsed to one, joined with ','. Host
// comes from r.Host (Go removes it from r.Header); Content-Length and
// Transfer-Encoding fall back to r.ContentLength and r.TransferEncoding.
// "host" must be signed.
//
// Payload hash: the x-amz-content-sha256 header if present; it must then be
// the hex SHA-256 of the body (checked against the body, else
// SignatureDoesNotMatch). Without it the server hashes the body itself.
// UNSIGNED-PAYLOAD is accepted only on presigned requests, which may also
// have been signed with it when no header says so; STREAMING-* (chunked
// signing) is refused.
//
// Strict (coffer's JSON and query services, as AWS's): Content-Type, when
// the request carries it, and every x-amz-* header it carries (X-Amz-Target
// among them) must be in SignedHeaders, else IncompleteSignature naming
// them; UNSIGNED-PAYLOAD is refused, presigned or not (IncompleteSignature
// when x-amz-content-sha256 says so; otherwise only the body's SHA-256 is
// tried). botocore's presigner signs content-type and x-amz-target with the
// empty body's hash (it moves the parameters into the query string), and
// aws-sdk-go-v2's STS presigner signs host with the body's hash: both pass.
//
// # String to sign and key
//
//	AWS4-HMAC-SHA256\n<X-Amz-Date>\n<yyyymmdd>/<region>/<service>/aws4_request\n<hex SHA-256 of the canonical request>
//
//	kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, yyyymmdd), region), service), "aws4_request")
//	Signature = hex(HMAC(kSigning, string to sign))
//
// The signature is compared with hmac.Equal, and every candidate canonical
// request is computed whether or not an earlier one matched.
//
// # Checks, in order, and their codes
//
//  1. No Authorization header and no presigned query: MissingAuthenticationToken.
//  2. Malformed or incomplete parameters, unknown algorithm, a bad
//     credential, a repeated or missing "host" in SignedHeaders, a header
//     Strict wants signed and not signed, a malformed date:
//     IncompleteSignature (the message lists what is missing, in AWS's
//     words).
//  3. Credential date differs from the date part of X-Amz-Date:
//     SignatureDoesNotMatch.
//  4. Request time more than MaxSkew (15 min) from the server clock, or a
//     presigned URL past X-Amz-Date + X-Amz-Expires: RequestExpired. AWS
//     uses "Signature expired: ... is now earlier than ..." and "Signature
//     not yet current: ... is still later than ..."; several AWS services
//     send these under SignatureDoesNotMatch, coffer uses RequestExpired,
//     which the SDKs also treat as clock skew. An expired presigned URL is
//     RequestExpired "Request has expired" (S3 says AccessDenied; the
//     awsQuery services document RequestExpired for presigned URLs).
//  5. x-amz-content-sha256 malformed, STREAMING-*, or UNSIGNED-PAYLOAD on
//     the header form (on any form when Strict): IncompleteSignature; not the SHA-256 of the body:
//     SignatureDoesNotMatch.
//  6. Unknown or inactive access key: InvalidClientTokenId. Other lookup
//     failures are returned as plain errors (a server fault).
//  7. Signature mismatch: SignatureDoesNotMatch.
//  8. X-Amz-Security-Token differs from the credentials' session token
//     (missing, wrong, or sent with a long-term key): InvalidClientTokenId.
//  9. Credentials past Expires: ExpiredToken.
//
// IncompleteSignature and RequestExpired are HTTP 400, as the STS, IAM and
// RDS references document; the rest are 403. Messages never contain the
// secret key or the session token.
package sigv4
