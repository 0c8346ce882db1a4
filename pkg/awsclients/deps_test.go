package awsclients

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFunctionsDoNotLinkTheCredentialChain keeps the SDK's config package,
// and with it the STS, Sign-In, SSO, SSO-OIDC and IMDS clients of its
// credential chain, out of the Lambda functions (FromEnv says why): one
// import of it anywhere under them would bring back 1.75 MiB and their
// package initialisation on every cold start.
func TestFunctionsDoNotLinkTheCredentialChain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}",
		"../../functions/intake", "../../functions/dispatch").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/aws/aws-sdk-go-v2/credentials", "the list is the functions' dependencies")
	for _, dep := range deps {
		for _, banned := range []string{
			"github.com/aws/aws-sdk-go-v2/config",
			"github.com/aws/aws-sdk-go-v2/credentials/",
			"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
			"github.com/aws/aws-sdk-go-v2/service/sts",
			"github.com/aws/aws-sdk-go-v2/service/signin",
			"github.com/aws/aws-sdk-go-v2/service/sso", // and ssooidc
		} {
			require.False(t, strings.HasPrefix(dep, banned), "the functions import %s", dep)
		}
	}
}
