package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
)

// Defaults of the configuration.
const (
	// DefaultMaxReceiveCount matches the delivery queue's maxReceiveCount in
	// template.yaml.
	DefaultMaxReceiveCount = 5
	// DefaultConcurrency is how many records of a batch are delivered at once
	// (a batch holds at most 10).
	DefaultConcurrency = 10
	// DefaultBackoffBase and DefaultBackoffCap bound the visibility delay of a
	// retried message: full jitter over base·2^(attempt-1), at most cap.
	// NovaMed publishes no rate limits and only five attempts are allowed, so
	// the delays start at tens of seconds rather than milliseconds.
	DefaultBackoffBase = 30 * time.Second
	DefaultBackoffCap  = 15 * time.Minute
	// maxConcurrency bounds DISPATCH_CONCURRENCY.
	maxConcurrency = 100
)

// Config is the dispatch function's configuration (docs/contract.md,
// "Configuration"). It holds names and URLs, never a secret: the NovaMed key
// comes from SSM at run time.
type Config struct {
	// Stage is "prod" or "dev": STAGE exactly "prod" is prod, anything else
	// (empty, "PROD", "prod ") is dev.
	Stage string
	// ParamPrefix is the SSM path of the parameters, e.g. /novamed-bridge/dev.
	ParamPrefix string
	// QueueURL is the delivery queue (for visibility changes and deletes).
	QueueURL string
	// DLQURL is the dead-letter queue.
	DLQURL string
	// LedgerTable is the DynamoDB ledger table.
	LedgerTable string
	// BaseURL is NovaMed's base URL: NOVAMED_BASE_URL, or the stage's default.
	// It must be the stage's host (novamed.CheckStageBaseURL).
	BaseURL string
	// MaxReceiveCount is the queue's maxReceiveCount: on that attempt a
	// retryable failure is dead-lettered by dispatch itself (class exhausted).
	MaxReceiveCount int
	// Concurrency bounds the records of a batch delivered at once.
	Concurrency int
	// BackoffBase and BackoffCap parameterise the retry delay.
	BackoffBase, BackoffCap time.Duration
	// Status500 is NOVAMED_500_POLICY, what a 500 from NovaMed means:
	// "unconfirmed" (default; dead-lettered, an operator confirms) or
	// "retryable" (retried; may create a second chart). See
	// delivery.Status500Unconfirmed and docs/operations.md.
	Status500 string
}

// ErrConfig is the sentinel of every configuration error. The errors name
// the variable, never its value.
var ErrConfig = errors.New("dispatch: invalid configuration")

func configErr(name, reason string) error {
	return fmt.Errorf("%w: %s %s", ErrConfig, name, reason)
}

// ConfigFromEnv reads the configuration from the environment through getenv
// (os.Getenv in main). Durations are Go durations ("30s") or whole seconds.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Stage:       queue.StageDev,
		ParamPrefix: getenv("PARAM_PREFIX"),
		QueueURL:    getenv("QUEUE_URL"),
		DLQURL:      getenv("DLQ_URL"),
		LedgerTable: getenv("LEDGER_TABLE"),
		BaseURL:     getenv("NOVAMED_BASE_URL"),
		Status500:   strings.TrimSpace(getenv("NOVAMED_500_POLICY")),
	}
	if getenv("STAGE") == queue.StageProd {
		c.Stage = queue.StageProd
	}
	for _, req := range []struct{ name, v string }{
		{"PARAM_PREFIX", c.ParamPrefix}, {"QUEUE_URL", c.QueueURL},
		{"DLQ_URL", c.DLQURL}, {"LEDGER_TABLE", c.LedgerTable},
	} {
		if req.v == "" {
			return Config{}, configErr(req.name, "is required")
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = novamed.DefaultBaseURL(c.Stage)
	}
	if c.Status500 == "" {
		c.Status500 = delivery.Status500Unconfirmed
	}
	var err error
	if c.MaxReceiveCount, err = intVar(getenv, "MAX_RECEIVE_COUNT", DefaultMaxReceiveCount, 1, queue.MaxAttempts); err != nil {
		return Config{}, err
	}
	if c.Concurrency, err = intVar(getenv, "DISPATCH_CONCURRENCY", DefaultConcurrency, 1, maxConcurrency); err != nil {
		return Config{}, err
	}
	if c.BackoffBase, err = durationVar(getenv, "BACKOFF_BASE", DefaultBackoffBase); err != nil {
		return Config{}, err
	}
	if c.BackoffCap, err = durationVar(getenv, "BACKOFF_CAP", DefaultBackoffCap); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks a Config built by hand (tests, the local stack) as
// ConfigFromEnv does.
func (c Config) Validate() error {
	switch {
	case c.Stage != queue.StageDev && c.Stage != queue.StageProd:
		return configErr("STAGE", "must be normalised to dev or prod")
	case c.QueueURL == "":
		return configErr("QUEUE_URL", "is required")
	case c.DLQURL == "":
		return configErr("DLQ_URL", "is required")
	case c.MaxReceiveCount < 1 || c.MaxReceiveCount > queue.MaxAttempts:
		return configErr("MAX_RECEIVE_COUNT", "is out of range")
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return configErr("DISPATCH_CONCURRENCY", "is out of range")
	case c.BackoffBase <= 0 || c.BackoffCap < c.BackoffBase || c.BackoffCap > delivery.MaxVisibility:
		return configErr("BACKOFF_BASE/BACKOFF_CAP", "must satisfy 0 < base <= cap <= 12h")
	case delivery.CheckStatus500(c.Status500) != nil:
		return configErr("NOVAMED_500_POLICY", "must be unconfirmed or retryable")
	}
	// The stage binds the host (issue 14): the key of a stage only goes to
	// that stage's NovaMed, loopback only outside prod.
	if _, err := novamed.CheckStageBaseURL(c.Stage, c.BaseURL); err != nil {
		// The novamed error names the rule broken, never the URL.
		return fmt.Errorf("%w: NOVAMED_BASE_URL: %w", ErrConfig, err)
	}
	return nil
}

func intVar(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, configErr(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
	}
	return n, nil
}

func durationVar(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, configErr(name, "must be a positive duration such as 30s")
	}
	return d, nil
}
