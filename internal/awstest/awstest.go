// Package awstest starts kumo in-process for tests and gives them AWS
// clients that talk to it, so that integration tests use real SDK clients
// against real (emulated) SQS, SSM and DynamoDB.
//
// kumo's state is global to the process: every kumo.NewServer shares one
// store. Tests therefore never share a resource name; Name gives each queue,
// table and parameter prefix a name of its own.
package awstest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/sivchari/kumo"

	"github.com/novamed/bridge/internal/loopclient"
	"github.com/novamed/bridge/pkg/awsclients"
)

// Region is the region of every Env's configuration.
const Region = "us-east-1"

// Env is an AWS endpoint for a test, usually an in-process kumo server, and
// a configuration that reaches it.
type Env struct {
	// URL is the endpoint's base URL.
	URL string
	// Config points at URL, in Region, with anonymous credentials.
	Config aws.Config
}

// Start starts kumo in-process, closes it when the test ends, and returns
// an Env that reaches it. optFns are added to the configuration's load
// options (config.WithRetryMaxAttempts, for instance).
func Start(t testing.TB, optFns ...func(*config.LoadOptions) error) *Env {
	t.Helper()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	return Connect(t, srv.URL, optFns...)
}

// Connect returns an Env for an endpoint the test runs itself, or one that
// is gone (to test unavailability). optFns are as for Start.
func Connect(t testing.TB, url string, optFns ...func(*config.LoadOptions) error) *Env {
	t.Helper()
	// One connection per call, each answer read whole inside the call:
	// internal/loopclient says which flakes that ended.
	cfg, err := loopclient.LoadConfig(context.Background(), append([]func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithBaseEndpoint(url),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
	}, optFns...)...)
	if err != nil {
		t.Fatalf("awstest: AWS configuration: %v", err)
	}
	return &Env{URL: url, Config: cfg}
}

// SQS returns an SQS client for the Env.
func (e *Env) SQS() *sqs.Client { return sqs.NewFromConfig(e.Config) }

// SSM returns an SSM client for the Env.
func (e *Env) SSM() *ssm.Client { return ssm.NewFromConfig(e.Config) }

// DynamoDB returns a DynamoDB client for the Env, built for an emulator
// (see awsclients.NewEmulatorDynamoDB: kumo sends no CRC32 header).
func (e *Env) DynamoDB() *dynamodb.Client { return awsclients.NewEmulatorDynamoDB(e.Config) }

// maxTestPart bounds the part of a name taken from the test's name, so that
// a name stays well within SQS's 80 characters and callers may add a short
// suffix of their own.
const maxTestPart = 40

var (
	seq        atomic.Int64
	unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

// Name returns a resource name unique in the process, derived from the
// test's name and suffix: "<test>-<n>-<suffix>". It holds only letters,
// digits, '-' and '_', so it is a valid SQS queue name, DynamoDB table name
// and SSM path segment; the test's part is its last 40 characters (subtest
// names are the distinctive part).
func Name(t testing.TB, suffix string) string {
	test := clean(t.Name())
	if len(test) > maxTestPart {
		test = strings.TrimLeft(test[len(test)-maxTestPart:], "-")
	}
	if test == "" {
		test = "test"
	}
	name := fmt.Sprintf("%s-%d", test, seq.Add(1))
	if s := clean(suffix); s != "" {
		name += "-" + s
	}
	return name
}

// clean replaces each run of characters AWS names do not allow by '-' and
// trims '-' from both ends.
func clean(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-")
}
