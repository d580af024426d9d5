package testenv

import (
	"context"
	"io"
	"strings"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// RewriteBody is an aws-sdk-go-v2 API option that rewrites a request's
// serialized body before it is hashed and signed, for inputs the SDK
// would not send (invalid UTF-8, members it validates away):
//
//	client.Op(ctx, in, func(o *svc.Options) { o.APIOptions = append(o.APIOptions, testenv.RewriteBody(f)) })
func RewriteBody(f func(string) string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Build.Add(middleware.BuildMiddlewareFunc("RewriteBody", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			req := in.Request.(*smithyhttp.Request)
			body, err := io.ReadAll(req.GetStream())
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, err
			}
			b := f(string(body))
			r, err := req.SetStream(strings.NewReader(b))
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, err
			}
			r.ContentLength = int64(len(b))
			in.Request = r
			return next.HandleBuild(ctx, in)
		}), middleware.After)
	}
}

// ReplaceInBody is RewriteBody replacing the first old with new.
func ReplaceInBody(old, new string) func(*middleware.Stack) error {
	return RewriteBody(func(b string) string { return strings.Replace(b, old, new, 1) })
}
