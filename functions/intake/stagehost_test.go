//go:build !nokumo

package main

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
)

// Non-nil collaborators for New, which makes no call.
type (
	idleParams struct{ Params }
	idleQueue  struct{ QueueSender }
	idleLedger struct{ EventLedger }
)

// TestStageBindsHost: intake refuses to start when STAGE and
// NOVAMED_BASE_URL name different NovaMed environments (issue 14): the
// error names the rule, never the URL.
func TestStageBindsHost(t *testing.T) {
	for _, tc := range []struct {
		stage, target string
		want          error
	}{
		{"prod", novamed.DevelopmentURL, novamed.ErrProdHost},
		{"prod", "http://127.0.0.1:8080", novamed.ErrProdHost},
		{"prod", "https://novamed.example.org", novamed.ErrProdHost},
		{"dev", novamed.ProductionURL, novamed.ErrDevHost},
		{"PROD", novamed.ProductionURL, novamed.ErrDevHost},
		{"dev", "https://novamed.example.org", novamed.ErrDevHost},
	} {
		_, err := New(Config{Stage: tc.stage, TargetURL: tc.target, Params: idleParams{}, Queue: idleQueue{}, DeadLetters: idleQueue{}, Ledger: idleLedger{}})
		require.ErrorIs(t, err, tc.want, "%q + %q", tc.stage, tc.target)
		u, perr := url.Parse(tc.target)
		require.NoError(t, perr)
		assert.NotContains(t, err.Error(), u.Host, "the error names the rule, not the URL")
	}
	for _, tc := range []struct{ stage, target string }{
		{"prod", novamed.ProductionURL}, {"prod", ""}, {"dev", novamed.DevelopmentURL},
		{"dev", ""}, {"dev", "http://127.0.0.1:8080"},
	} {
		_, err := New(Config{Stage: tc.stage, TargetURL: tc.target, Params: idleParams{}, Queue: idleQueue{}, DeadLetters: idleQueue{}, Ledger: idleLedger{}})
		assert.NoError(t, err, "%q + %q", tc.stage, tc.target)
	}
}
