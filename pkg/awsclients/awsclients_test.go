package awsclients

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
)

// isolate gives the SDK an environment of the test's own: no shared files,
// no profile, static test credentials.
func isolate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
}

func TestLoadHonoursEndpointEnv(t *testing.T) {
	isolate(t)
	t.Setenv(EndpointEnv, "http://127.0.0.1:4566")
	cfg, err := Load(context.Background())
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:4566", aws.ToString(cfg.BaseEndpoint))
	require.Equal(t, "us-east-1", cfg.Region)
}

func TestNewDynamoDBChecksum(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		disabled bool
	}{
		{"AWS validates checksums", "", false},
		{"emulator skips them", "http://127.0.0.1:4566", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			t.Setenv(EndpointEnv, tt.endpoint)
			cfg, err := Load(context.Background())
			require.NoError(t, err)
			got := NewDynamoDB(cfg).Options().DisableValidateResponseChecksum
			require.Equal(t, tt.disabled, got, "DisableValidateResponseChecksum")
		})
	}
}

func TestNewEmulatorDynamoDBSkipsChecksum(t *testing.T) {
	client := NewEmulatorDynamoDB(aws.Config{Region: "us-east-1"})
	require.True(t, client.Options().DisableValidateResponseChecksum)
}
