package awsclients

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
)

// The environment variables FromEnv reads. They are the SDK's own names,
// read as config.LoadDefaultConfig reads them.
const (
	regionEnv          = "AWS_REGION"
	defaultRegionEnv   = "AWS_DEFAULT_REGION"
	accessKeyIDEnv     = "AWS_ACCESS_KEY_ID"
	secretAccessKeyEnv = "AWS_SECRET_ACCESS_KEY"
	sessionTokenEnv    = "AWS_SESSION_TOKEN"
	caBundleEnv        = "AWS_CA_BUNDLE"
	maxAttemptsEnv     = "AWS_MAX_ATTEMPTS"
	retryModeEnv       = "AWS_RETRY_MODE"
	appIDEnv           = "AWS_SDK_UA_APP_ID"
	ignoreEndpointsEnv = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
	useFIPSEnv         = "AWS_USE_FIPS_ENDPOINT"
	useDualStackEnv    = "AWS_USE_DUALSTACK_ENDPOINT"
)

// ErrMissingEnv is returned by FromEnv when a variable it needs is unset;
// the error names the variable, never a value.
var ErrMissingEnv = errors.New("not set")

// FromEnv builds the Lambda functions' AWS configuration from the
// environment Lambda gives every function (and `sam local invoke` and the
// local stack give the bootstraps): the region from AWS_REGION (or
// AWS_DEFAULT_REGION) and the execution role's credentials from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
//
// It exists instead of config.LoadDefaultConfig because that function
// links the clients of every credential source the SDK knows (STS,
// Sign-In, SSO, SSO-OIDC, IMDS): 0.4 MiB of each bootstrap and their
// package initialisation on every cold start, for sources a function never
// uses. Operators' tools, which do use profiles and SSO, keep
// LoadDefaultConfig.
//
// Beyond region and credentials it honours what the functions' deployments
// and the local stack may set, with the SDK's meaning: AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> (and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS),
// AWS_CA_BUNDLE, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, AWS_SDK_UA_APP_ID,
// AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT. The retryer and the
// HTTP client are the SDK's defaults, which each client builds itself; SDK
// warnings go to stderr as with LoadDefaultConfig.
//
// A missing region or credential is an error at start that names the
// variable; no error quotes a value.
func FromEnv(getenv func(string) string) (aws.Config, error) {
	region := getenv(regionEnv)
	if region == "" {
		region = getenv(defaultRegionEnv)
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("awsclients: %s (or %s) %w", regionEnv, defaultRegionEnv, ErrMissingEnv)
	}
	creds, err := envCredentials(getenv)
	if err != nil {
		return aws.Config{}, err
	}
	src := envSource{getenv: getenv}
	ignore, err := src.bool(ignoreEndpointsEnv)
	if err != nil {
		return aws.Config{}, err
	}
	// The service clients ask ConfigSources for AWS_ENDPOINT_URL_<SERVICE>,
	// the FIPS and dual-stack settings; checked here so that a bad value
	// fails the start rather than each client's construction.
	for _, name := range []string{useFIPSEnv, useDualStackEnv} {
		if _, err := src.bool(name); err != nil {
			return aws.Config{}, err
		}
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   aws.NewCredentialsCache(creds),
		Logger:        logging.NewStandardLogger(os.Stderr),
		ConfigSources: []any{src},
		AppID:         getenv(appIDEnv),
	}
	if endpoint := getenv(EndpointEnv); endpoint != "" && !ignore.value {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	if cfg.RetryMaxAttempts, err = maxAttempts(getenv); err != nil {
		return aws.Config{}, err
	}
	if mode := getenv(retryModeEnv); mode != "" {
		if cfg.RetryMode, err = aws.ParseRetryMode(mode); err != nil {
			return aws.Config{}, fmt.Errorf("awsclients: %s is not standard or adaptive", retryModeEnv)
		}
	}
	if path := getenv(caBundleEnv); path != "" {
		if cfg.HTTPClient, err = caBundleClient(path); err != nil {
			return aws.Config{}, err
		}
	}
	return cfg, nil
}

// envCredentials returns the static credentials of the environment. The
// session token is optional: Lambda always sets it, an IAM user's keys
// have none.
func envCredentials(getenv func(string) string) (credentials.StaticCredentialsProvider, error) {
	for _, name := range []string{accessKeyIDEnv, secretAccessKeyEnv} {
		if getenv(name) == "" {
			return credentials.StaticCredentialsProvider{}, fmt.Errorf(
				"awsclients: %s %w (a Lambda function gets its role's credentials from the environment)", name, ErrMissingEnv)
		}
	}
	return credentials.StaticCredentialsProvider{
		Value: aws.Credentials{
			AccessKeyID:     getenv(accessKeyIDEnv),
			SecretAccessKey: getenv(secretAccessKeyEnv),
			SessionToken:    getenv(sessionTokenEnv),
			Source:          "EnvConfigCredentials", // LoadDefaultConfig's name for them
		},
		Source: []aws.CredentialSource{aws.CredentialSourceEnvVars},
	}, nil
}

func maxAttempts(getenv func(string) string) (int, error) {
	v := getenv(maxAttemptsEnv)
	if v == "" {
		return 0, nil // the client's default
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("awsclients: %s is not a positive integer", maxAttemptsEnv)
	}
	return n, nil
}

// caBundleClient is the SDK's default HTTP client trusting only the
// certificates of the PEM file at path, as LoadDefaultConfig builds it for
// AWS_CA_BUNDLE.
func caBundleClient(path string) (aws.HTTPClient, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("awsclients: %s: %w", caBundleEnv, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("awsclients: %s: no PEM certificate in %s", caBundleEnv, path)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}), nil
}

// envSource is the aws.Config.ConfigSources entry through which each
// service client looks up its own endpoint (AWS_ENDPOINT_URL_<SERVICE>)
// and the FIPS and dual-stack settings; it has the methods the SDK's
// internal/configsources looks for, as config.EnvConfig does.
type envSource struct {
	getenv func(string) string
}

// setting is a boolean variable's value and whether it was set.
type setting struct{ value, set bool }

func (s envSource) bool(name string) (setting, error) {
	switch v := s.getenv(name); {
	case v == "":
		return setting{}, nil
	case strings.EqualFold(v, "true"):
		return setting{value: true, set: true}, nil
	case strings.EqualFold(v, "false"):
		return setting{set: true}, nil
	default:
		return setting{}, fmt.Errorf("awsclients: %s is neither true nor false", name)
	}
}

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SERVICE>, the SDK id
// upper-cased with spaces as underscores (DYNAMODB, SQS, SSM).
func (s envSource) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := s.getenv(EndpointEnv + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}

// GetIgnoreConfiguredEndpoints reports AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (s envSource) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	v, err := s.bool(ignoreEndpointsEnv)
	return v.value, v.set, err
}

// GetUseFIPSEndpoint reports AWS_USE_FIPS_ENDPOINT.
func (s envSource) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	v, err := s.bool(useFIPSEnv)
	if err != nil || !v.set {
		return aws.FIPSEndpointStateUnset, false, err
	}
	if v.value {
		return aws.FIPSEndpointStateEnabled, true, nil
	}
	return aws.FIPSEndpointStateDisabled, true, nil
}

// GetUseDualStackEndpoint reports AWS_USE_DUALSTACK_ENDPOINT.
func (s envSource) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	v, err := s.bool(useDualStackEnv)
	if err != nil || !v.set {
		return aws.DualStackEndpointStateUnset, false, err
	}
	if v.value {
		return aws.DualStackEndpointStateEnabled, true, nil
	}
	return aws.DualStackEndpointStateDisabled, true, nil
}
