package main

// Metrics the operators' dashboard (template.yaml, OperationsDashboard)
// shows beside the outcome counts.
const (
	// MetricWebhooks counts requests, dimensions Source (a configured
	// source, "other" before one is known: a path cannot mint dimension
	// values) and Outcome (accepted, duplicate, notification, rejected,
	// unavailable, failed).
	MetricWebhooks = "Webhooks"
	// MetricDependencyErrors counts requests that failed on SSM, the ledger
	// or SQS, dimension Dependency ("ssm", "ledger", "sqs").
	MetricDependencyErrors = "DependencyErrors"
)

// dependencyOf names the dependency an error code blames, or "".
func dependencyOf(code string) string {
	switch code {
	case "params_unavailable":
		return "ssm"
	case "ledger_unavailable":
		return "ledger"
	case "queue_unavailable":
		return "sqs"
	}
	return ""
}
