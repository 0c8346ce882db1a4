package awsclients

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
)

// lambdaEnv sets the process environment as Lambda sets a function's
// (region and the role's credentials) and removes every other variable
// FromEnv or config.LoadDefaultConfig reads, AWS_CA_BUNDLE included, so
// that the machine's own settings play no part.
func lambdaEnv(t testing.TB) {
	dir := t.TempDir()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
		}
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "test")
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
			lambdaEnv(t)
			t.Setenv(EndpointEnv, tt.endpoint)
			cfg, err := FromEnv(os.Getenv)
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
