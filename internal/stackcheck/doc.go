// Package stackcheck holds the checks of the SAM stack: template_test.go reads
// template.yaml and fails when a property the design depends on changes (an
// IAM statement widened, encryption turned off, the redrive policy removed),
// and build_test.go checks that `make build` produces what Lambda runs.
package stackcheck
