package delivery

import (
	"errors"
	"strconv"

	"github.com/novamed/bridge/pkg/novamed"
)

// Metrics the operators' dashboard (template.yaml, OperationsDashboard)
// shows beside the outcome counts.
const (
	// MetricNovaMedAnswers counts NovaMed's answers, dimension Status: the
	// HTTP status, "2xx" for a success (the client returns the id, not the
	// code) or "none" when no answer came (timeout, refused connection).
	MetricNovaMedAnswers = "NovaMedAnswers"
	// MetricDependencyErrors counts records that failed on SSM or the
	// ledger, dimension Dependency ("ssm", "ledger").
	MetricDependencyErrors = "DependencyErrors"
)

// answerStatus is the Status dimension of one NovaMed call's result: a
// number from 100 to 599, "2xx" or "none"; never more than those.
func answerStatus(callErr error) string {
	if callErr == nil {
		return "2xx"
	}
	var apiErr *novamed.APIError
	if errors.As(callErr, &apiErr) && apiErr.StatusCode >= 100 && apiErr.StatusCode <= 599 {
		return strconv.Itoa(apiErr.StatusCode)
	}
	return "none"
}

// dependencyOf names the dependency an error code blames, or "".
func dependencyOf(code string) string {
	switch code {
	case "ledger_unavailable", "ledger_unexpected":
		return "ledger"
	case "guard_unavailable", "api_key_unavailable", "params_unavailable":
		return "ssm"
	}
	return ""
}
