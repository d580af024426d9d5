// Package awsmodel holds trimmed copies of AWS's published service models
// (botocore's service-2.json) for the JSON services coffer speaks and for
// IAM (awsQuery), and
// answers the questions the protocol layer asks of them: which members an
// error shape has, where a restJson operation is routed, how a request's
// input is read from where the protocol puts it (RESTInput: path labels,
// query string, headers and body; QueryInput: awsQuery's form), and
// whether it satisfies its shape.
//
// # The embedded files
//
// models/<service>.json is botocore's data/<service>/<newest
// version>/service-2.json with everything but the following dropped, so
// that its meaning is the model's own (see botocore's documentation of
// the format):
//
//	metadata:    apiVersion, protocol, jsonVersion, targetPrefix,
//	             serviceId, signingName
//	operations:  name -> {name, http, input: {shape}, output: {shape},
//	             errors: [{shape}]}
//	shapes:      name -> {type, members: name -> {shape, location,
//	             locationName, jsonvalue, idempotencyToken}, required,
//	             min, max, pattern, enum, member, key, value, exception,
//	             error, sensitive, flattened}
//
// The files are produced by the trim command (go generate ./internal/awsmodel,
// which locates botocore with python3); regenerate them when botocore is
// upgraded, and review the diff as a change of AWS's API.
//
// # Validation
//
// ValidateJSON walks a JSON request body alongside the operation's input
// shape, as AWS's request validation does, and reports each violation in
// AWS's words: "1 validation error detected: Value 'x' at
// 'tags.1.member.tagKey' failed to satisfy constraint: Member must have
// length less than or equal to 128". Member paths lower the first letter
// of each member name and number list elements from 1 ("tags.1.member").
// Values of sensitive shapes are not echoed. Besides the model's
// constraints (required, min/max lengths and ranges, enums, patterns Go's
// regexp can compile) every string must be valid UTF-8 without NUL
// characters.
//
// # Inputs off the wire
//
// RESTInput and QueryInput gather a request's input into one document
// keyed by member name, numbers as json.Number, which Validate checks
// and a decoder reads once marshalled. In restJson a member's Ref names
// where it travels: "uri" (the path label locationName), "querystring"
// (the parameter locationName, repeated for a list), "header", or the
// JSON body (no location). In awsQuery every member is a form parameter:
// Name (or locationName) for a scalar, Parent.Name inside a structure,
// Name.member.N for the Nth list element (Name.N when the list is
// flattened; an empty list is the bare Name), Name.entry.N.key and
// Name.entry.N.value for a map. Outside a JSON body numbers and booleans
// are text and timestamps ISO 8601; they become JSON numbers, booleans
// and seconds since the epoch, a value that does not parse being a
// violation ("Member must be a whole number").
package awsmodel
