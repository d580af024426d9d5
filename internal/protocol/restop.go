package protocol

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
)

// RESTOperation registers fn as operation of s's model, so that a new
// operation is a domain call and this one line. The route and the
// success status are the model's (its http block). The input is
// gathered from the path labels, query string, headers and body as the
// model places each member (awsmodel.RESTInput), checked against the
// input shape (required members, lengths, ranges, enums, patterns) and
// decoded into In, whose fields are named as the model's members; what
// fn returns is the JSON body. Authorization stays with the domain call
// fn makes. It panics when s has no model or the model has no such
// operation: both are fixed at build time.
func RESTOperation[In, Out any](s *RESTService, operation string, fn func(context.Context, *In) (Out, error)) {
	if s.Model == nil {
		panic(fmt.Sprintf("protocol: %s has no model to register %s by", s.Name, operation))
	}
	op, ok := s.Model.Operations[operation]
	if !ok {
		panic(fmt.Sprintf("protocol: %s has no operation %s in its model", s.Name, operation))
	}
	s.Handle(op.Pattern(), operation, func(ctx context.Context, r *RESTRequest) (int, any, error) {
		in := new(In)
		if err := decodeREST(s.Model, op, r, in); err != nil {
			return 0, nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return 0, nil, err
		}
		return op.HTTP.ResponseCode, out, nil
	})
}

// decodeREST gathers, validates and decodes op's input into in.
func decodeREST(m *awsmodel.Model, op awsmodel.Operation, r *RESTRequest, in any) error {
	if vs := awsmodel.InvalidUTF8(r.Body); vs != nil {
		return awserr.Validation("%s", awsmodel.Message(vs))
	}
	doc, vs, err := m.RESTInput(op.Name, awsmodel.RESTRequest{Label: r.PathValue, Query: r.Query, Header: r.HTTP.Header, Body: r.Body})
	if err != nil {
		return awserr.New(awserr.Invalid, "SerializationException", "the request body is not valid JSON for this operation: %s", jsonErrorText(err))
	}
	if vs = append(vs, m.Validate(op.Name, doc)...); len(vs) > 0 {
		return invalidInput(op, vs)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode gathered input: %w", err)
	}
	return DecodeJSON(b, in)
}

// invalidInput is the error for an input that breaks its shape, in the
// codes the operation's model lists: MissingParameterValueException for
// an absent required member and InvalidParameterValueException for the
// rest (AWS Backup's), else the framework's ValidationException; the
// message is AWS's validation wording either way.
func invalidInput(op awsmodel.Operation, vs []awsmodel.Violation) error {
	code := "ValidationException"
	if op.HasError("InvalidParameterValueException") {
		code = "InvalidParameterValueException"
	}
	for _, v := range vs {
		if v.Value == "null" && op.HasError("MissingParameterValueException") {
			code = "MissingParameterValueException"
		}
	}
	return awserr.New(awserr.Invalid, code, "%s", awsmodel.Message(vs))
}
