package main

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/novamed"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func baseEnv() map[string]string {
	return map[string]string{
		"STAGE":        "dev",
		"PARAM_PREFIX": "/novamed-bridge/dev",
		"QUEUE_URL":    "https://sqs.us-east-1.amazonaws.com/123456789012/q",
		"DLQ_URL":      "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
		"LEDGER_TABLE": "ledger",
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	c, err := ConfigFromEnv(envOf(baseEnv()))
	require.NoError(t, err)
	assert.Equal(t, "dev", c.Stage)
	assert.Equal(t, novamed.DevelopmentURL, c.BaseURL)
	assert.Equal(t, DefaultMaxReceiveCount, c.MaxReceiveCount)
	assert.Equal(t, DefaultConcurrency, c.Concurrency)
	assert.Equal(t, DefaultBackoffBase, c.BackoffBase)
	assert.Equal(t, DefaultBackoffCap, c.BackoffCap)
	assert.Equal(t, delivery.Status500Unconfirmed, c.Status500)
}

func TestConfigFromEnvStage(t *testing.T) {
	for _, tc := range []struct {
		stage, want, url string
	}{
		{"prod", "prod", novamed.ProductionURL},
		{"", "dev", novamed.DevelopmentURL},
		{"PROD", "dev", novamed.DevelopmentURL},
		{"prod ", "dev", novamed.DevelopmentURL},
		{"production", "dev", novamed.DevelopmentURL},
		{"staging", "dev", novamed.DevelopmentURL},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			env := baseEnv()
			env["STAGE"] = tc.stage
			c, err := ConfigFromEnv(envOf(env))
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Stage)
			assert.Equal(t, tc.url, c.BaseURL)
		})
	}
}

func TestConfigFromEnvOverrides(t *testing.T) {
	env := baseEnv()
	env["NOVAMED_BASE_URL"] = "http://127.0.0.1:8080"
	env["MAX_RECEIVE_COUNT"] = "3"
	env["DISPATCH_CONCURRENCY"] = "4"
	env["BACKOFF_BASE"] = "250ms"
	env["BACKOFF_CAP"] = "20"
	env["NOVAMED_500_POLICY"] = "retryable"
	c, err := ConfigFromEnv(envOf(env))
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8080", c.BaseURL)
	assert.Equal(t, 3, c.MaxReceiveCount)
	assert.Equal(t, 4, c.Concurrency)
	assert.Equal(t, 250*time.Millisecond, c.BackoffBase)
	assert.Equal(t, 20*time.Second, c.BackoffCap)
	assert.Equal(t, delivery.Status500Retryable, c.Status500)
}

func TestConfigFromEnvErrors(t *testing.T) {
	secretish := "http://user:hunter2@novamed.example"
	for _, tc := range []struct {
		name, key, value, mentions string
	}{
		{"missing prefix", "PARAM_PREFIX", "", "PARAM_PREFIX"},
		{"missing queue", "QUEUE_URL", "", "QUEUE_URL"},
		{"missing dlq", "DLQ_URL", "", "DLQ_URL"},
		{"missing table", "LEDGER_TABLE", "", "LEDGER_TABLE"},
		{"http to a remote host", "NOVAMED_BASE_URL", "http://novamed-feapidev.stackmod.info", "NOVAMED_BASE_URL"},
		{"user info", "NOVAMED_BASE_URL", secretish, "NOVAMED_BASE_URL"},
		{"receive count zero", "MAX_RECEIVE_COUNT", "0", "MAX_RECEIVE_COUNT"},
		{"receive count text", "MAX_RECEIVE_COUNT", "five", "MAX_RECEIVE_COUNT"},
		{"concurrency too high", "DISPATCH_CONCURRENCY", "1000", "DISPATCH_CONCURRENCY"},
		{"negative base", "BACKOFF_BASE", "-1s", "BACKOFF_BASE"},
		{"cap below base", "BACKOFF_CAP", "1s", "BACKOFF_CAP"},
		{"cap over 12h", "BACKOFF_CAP", "13h", "BACKOFF_CAP"},
		{"500 policy unknown", "NOVAMED_500_POLICY", "sometimes", "NOVAMED_500_POLICY"},
		{"500 policy cased", "NOVAMED_500_POLICY", "Retryable", "NOVAMED_500_POLICY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv()
			env[tc.key] = tc.value
			_, err := ConfigFromEnv(envOf(env))
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrConfig))
			assert.Contains(t, err.Error(), tc.mentions)
			// Errors name the variable, never its value (values too short
			// to be told apart from the message's own words are left out).
			if len(tc.value) >= 4 {
				assert.NotContains(t, err.Error(), tc.value)
			}
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

// TestStageBindsHost: dispatch refuses to start when STAGE and
// NOVAMED_BASE_URL name different NovaMed environments, or prod names
// loopback (issue 14): the API key of a stage only goes to that stage's
// NovaMed. The error names the rule, never the URL.
func TestStageBindsHost(t *testing.T) {
	for _, tc := range []struct {
		stage, url string
		want       error
	}{
		{"prod", novamed.DevelopmentURL, novamed.ErrProdHost},
		{"prod", "http://127.0.0.1:8080", novamed.ErrProdHost},
		{"prod", "https://novamed.example.org", novamed.ErrProdHost},
		{"dev", novamed.ProductionURL, novamed.ErrDevHost},
		{"PROD", novamed.ProductionURL, novamed.ErrDevHost},
		{"dev", "https://novamed.example.org", novamed.ErrDevHost},
	} {
		env := baseEnv()
		env["STAGE"], env["NOVAMED_BASE_URL"] = tc.stage, tc.url
		_, err := ConfigFromEnv(envOf(env))
		require.ErrorIs(t, err, ErrConfig, "%q + %q", tc.stage, tc.url)
		require.ErrorIs(t, err, tc.want, "%q + %q", tc.stage, tc.url)
		assert.Contains(t, err.Error(), "NOVAMED_BASE_URL")
		u, perr := url.Parse(tc.url)
		require.NoError(t, perr)
		assert.NotContains(t, err.Error(), u.Host, "the error names the rule, not the URL")
	}
	for _, tc := range []struct{ stage, url string }{
		{"prod", novamed.ProductionURL}, {"dev", novamed.DevelopmentURL}, {"dev", "http://127.0.0.1:8080"}, {"dev", "http://[::1]:9000"},
	} {
		env := baseEnv()
		env["STAGE"], env["NOVAMED_BASE_URL"] = tc.stage, tc.url
		_, err := ConfigFromEnv(envOf(env))
		assert.NoError(t, err, "%q + %q", tc.stage, tc.url)
	}
	// New validates a hand-built Config the same way.
	cfg := Config{Stage: "prod", QueueURL: "q", DLQURL: "d", BaseURL: "http://127.0.0.1:8080", MaxReceiveCount: 1,
		Concurrency: 1, BackoffBase: time.Second, BackoffCap: time.Second}
	_, err := New(cfg, Deps{})
	require.ErrorIs(t, err, novamed.ErrProdHost)
}
