// Package e2e runs the seed's cross-account backup scenario, and the
// rules it must enforce, against a real coffer through the AWS SDK for
// Go v2 and the AWS CLI. The package holds only tests and their helpers.
package e2e
