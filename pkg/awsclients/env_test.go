package awsclients

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// endpoints are the base endpoints the three services' clients resolve
// from cfg, as each client's constructor resolves them.
func endpoints(cfg aws.Config) map[string]string {
	return map[string]string{
		"DynamoDB": aws.ToString(dynamodb.NewFromConfig(cfg).Options().BaseEndpoint),
		"SQS":      aws.ToString(sqs.NewFromConfig(cfg).Options().BaseEndpoint),
		"SSM":      aws.ToString(ssm.NewFromConfig(cfg).Options().BaseEndpoint),
	}
}

// TestLoadHonoursEndpointEnv pins FromEnv's endpoints, for each service the
// functions use, to what config.LoadDefaultConfig gives for the same
// environment (the functions used it before), and to the expected URL.
func TestLoadHonoursEndpointEnv(t *testing.T) {
	const all, own = "http://127.0.0.1:4566", "http://127.0.0.1:4599"
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"none", nil, map[string]string{"DynamoDB": "", "SQS": "", "SSM": ""}},
		{"one for all", map[string]string{"AWS_ENDPOINT_URL": all},
			map[string]string{"DynamoDB": all, "SQS": all, "SSM": all}},
		{"one for all, its own for SQS", map[string]string{"AWS_ENDPOINT_URL": all, "AWS_ENDPOINT_URL_SQS": own},
			map[string]string{"DynamoDB": all, "SQS": own, "SSM": all}},
		{"only DynamoDB's", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": own},
			map[string]string{"DynamoDB": own, "SQS": "", "SSM": ""}},
		{"SSM's", map[string]string{"AWS_ENDPOINT_URL_SSM": own},
			map[string]string{"DynamoDB": "", "SQS": "", "SSM": own}},
		{"ignored", map[string]string{"AWS_ENDPOINT_URL": all, "AWS_ENDPOINT_URL_SQS": own, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			map[string]string{"DynamoDB": "", "SQS": "", "SSM": ""}},
		{"not ignored", map[string]string{"AWS_ENDPOINT_URL": all, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "FALSE"},
			map[string]string{"DynamoDB": all, "SQS": all, "SSM": all}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lambdaEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := FromEnv(os.Getenv)
			require.NoError(t, err)
			require.Equal(t, "us-east-1", cfg.Region)
			require.Equal(t, tt.want, endpoints(cfg))
			sdk, err := config.LoadDefaultConfig(context.Background())
			require.NoError(t, err)
			require.Equal(t, endpoints(sdk), endpoints(cfg), "as LoadDefaultConfig resolves them")
		})
	}
}

// TestFromEnvMatchesLoadDefaultConfig compares, for environments Lambda
// or a deployment may give, the settings the clients see.
func TestFromEnvMatchesLoadDefaultConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"Lambda", nil},
		{"AWS_DEFAULT_REGION only", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-3"}},
		{"AWS_REGION wins", map[string]string{"AWS_DEFAULT_REGION": "eu-west-3"}},
		{"no session token", map[string]string{"AWS_SESSION_TOKEN": ""}},
		{"retry settings", map[string]string{"AWS_MAX_ATTEMPTS": "7", "AWS_RETRY_MODE": "adaptive"}},
		{"app id", map[string]string{"AWS_SDK_UA_APP_ID": "novamed-bridge"}},
		{"FIPS and dual stack", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lambdaEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx := context.Background()
			got, err := FromEnv(os.Getenv)
			require.NoError(t, err)
			want, err := config.LoadDefaultConfig(ctx)
			require.NoError(t, err)
			assert.Equal(t, want.Region, got.Region)
			assert.Equal(t, want.RetryMaxAttempts, got.RetryMaxAttempts)
			assert.Equal(t, want.RetryMode, got.RetryMode)
			assert.Equal(t, want.AppID, got.AppID)
			wantCreds, err := want.Credentials.Retrieve(ctx)
			require.NoError(t, err)
			gotCreds, err := got.Credentials.Retrieve(ctx)
			require.NoError(t, err)
			assert.Equal(t, wantCreds, gotCreds)
			wantSSM, gotSSM := ssm.NewFromConfig(want).Options(), ssm.NewFromConfig(got).Options()
			assert.Equal(t, wantSSM.EndpointOptions, gotSSM.EndpointOptions, "FIPS and dual stack")
			assert.Equal(t, wantSSM.RetryMaxAttempts, gotSSM.RetryMaxAttempts)
			assert.Equal(t, wantSSM.RetryMode, gotSSM.RetryMode)
			assert.Equal(t, wantSSM.Retryer.MaxAttempts(), gotSSM.Retryer.MaxAttempts())
		})
	}
}

// Secret-looking values that cannot appear in a message by accident.
const (
	canaryKeyID  = "AKIACANARY7Q3ZKX9WJ"
	canarySecret = "canary/Secret+Zq81LwTn0pVv"
	canaryToken  = "canaryTokenFwoGZXIvYXdzEBka"
)

func TestFromEnvNamesWhatIsMissing(t *testing.T) {
	full := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": canaryKeyID,
		"AWS_SECRET_ACCESS_KEY": canarySecret, "AWS_SESSION_TOKEN": canaryToken,
	}
	for _, missing := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Run(missing, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range full {
				if k != missing {
					env[k] = v
				}
			}
			_, err := FromEnv(func(k string) string { return env[k] })
			require.ErrorIs(t, err, ErrMissingEnv)
			require.Contains(t, err.Error(), missing)
			assertNoSecret(t, err)
		})
	}
	_, err := FromEnv(func(k string) string { return full[k] })
	require.NoError(t, err, "the session token is optional, the rest suffices")
}

func TestFromEnvRefusesBadValuesWithoutQuotingThem(t *testing.T) {
	for _, name := range []string{"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{
				"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": canaryKeyID,
				"AWS_SECRET_ACCESS_KEY": canarySecret, "AWS_SESSION_TOKEN": canaryToken,
				name: canarySecret,
			}
			_, err := FromEnv(func(k string) string { return env[k] })
			require.Error(t, err)
			require.Contains(t, err.Error(), name)
			assertNoSecret(t, err)
		})
	}
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{canaryKeyID, canarySecret, canaryToken} {
		require.NotContains(t, err.Error(), secret)
	}
}

// TestFromEnvCABundle: with AWS_CA_BUNDLE the client trusts that bundle's
// certificates, as with LoadDefaultConfig (a TLS server whose certificate
// is only in the bundle answers; without the bundle it does not).
func TestFromEnvCABundle(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	require.NoError(t, os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	get := func(cfg aws.Config) error {
		client := cfg.HTTPClient
		if client == nil {
			client = awshttp.NewBuildableClient()
		}
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	lambdaEnv(t)
	cfg, err := FromEnv(os.Getenv)
	require.NoError(t, err)
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, get(cfg), &unknown, "without the bundle the server is not trusted")

	t.Setenv("AWS_CA_BUNDLE", bundle)
	cfg, err = FromEnv(os.Getenv)
	require.NoError(t, err)
	require.NoError(t, get(cfg))
	sdk, err := config.LoadDefaultConfig(context.Background())
	require.NoError(t, err)
	require.NoError(t, get(sdk), "LoadDefaultConfig trusts it too")

	for name, path := range map[string]string{"missing": filepath.Join(t.TempDir(), "none.pem"), "not PEM": writeFile(t, "no certificate")} {
		t.Run(name, func(t *testing.T) {
			_, err := FromEnv(func(k string) string {
				if k == "AWS_CA_BUNDLE" {
					return path
				}
				return os.Getenv(k)
			})
			require.Error(t, err)
			require.Contains(t, err.Error(), "AWS_CA_BUNDLE")
		})
	}
}

func writeFile(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// BenchmarkConfig compares the set-up cost of FromEnv with that of
// config.LoadDefaultConfig, which the functions used before, for Lambda's
// environment (sub-benchmarks interleave poorly; read them from one run).
func BenchmarkConfig(b *testing.B) {
	lambdaEnv(b)
	for _, bench := range []struct {
		name string
		load func() error
	}{
		{"FromEnv", func() error { _, err := FromEnv(os.Getenv); return err }},
		{"LoadDefaultConfig", func() error { _, err := config.LoadDefaultConfig(context.Background()); return err }},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := bench.load(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
