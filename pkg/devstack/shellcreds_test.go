package devstack

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShellCredentialsResolvesAProfile: a shell with only AWS_PROFILE (the
// operators' way) gives the bootstrap the profile's keys and region as the
// variables Lambda sets, since the bootstraps read nothing else.
func TestShellCredentialsResolvesAProfile(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
		}
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	t.Setenv("AWS_CONFIG_FILE", write("config", "[profile operator]\nregion = eu-west-3\n"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", write("credentials",
		"[operator]\naws_access_key_id = AKIAPROFILEKEY0001\naws_secret_access_key = profileSecret/0001\naws_session_token = profileToken0001\n"))
	t.Setenv("AWS_PROFILE", "operator")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	got := shellCredentials(context.Background(), io.Discard)
	require.Equal(t, []string{
		"AWS_REGION=eu-west-3",
		"AWS_ACCESS_KEY_ID=AKIAPROFILEKEY0001",
		"AWS_SECRET_ACCESS_KEY=profileSecret/0001",
		"AWS_SESSION_TOKEN=profileToken0001",
	}, got)
}
