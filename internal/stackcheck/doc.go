// Package stackcheck holds the checks of the SAM stack: template_test.go reads
// template.yaml and fails when a property the design depends on changes (an
// IAM statement widened, encryption turned off, the redrive policy removed);
// transformed_test.go runs the SAM transform (transform.py, the samtranslator
// package cfn-lint ships) and checks what CloudFormation would deploy, because
// the transform adds roles and AWS managed policies the template never shows;
// dashboard_test.go and queries_test.go check the dashboard, the alarms and
// the saved Logs Insights queries against the metrics and log attributes the
// Go code actually emits; and build_test.go checks that `make build`
// produces what Lambda runs.
package stackcheck
