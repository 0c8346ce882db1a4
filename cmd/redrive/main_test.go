package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/internal/nettest"
)

// setup starts kumo, points the SDK's environment at it (the way operators
// use AWS_ENDPOINT_URL with an emulator) and creates a DLQ with one message
// and a target queue.
func setup(t *testing.T) (dlq, target string, client *sqs.Client) {
	kumoEnv := awstest.Start(t)
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", kumoEnv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")

	ctx := context.Background()
	client = kumoEnv.SQS()
	name := awstest.Name(t, "cmd-redrive")
	for i, suffix := range []string{"dlq", "queue"} {
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-" + suffix)})
		require.NoError(t, err)
		if i == 0 {
			dlq = aws.ToString(out.QueueUrl)
		} else {
			target = aws.ToString(out.QueueUrl)
		}
	}
	_, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String("{}")})
	require.NoError(t, err)
	return dlq, target, client
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunAgainstAnEmulator(t *testing.T) {
	dlq, target, client := setup(t)

	code, out, errOut := runCmd("stats", "--dlq", dlq, "--wait", "0s")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^none\s+none\s+1\s+-\s+-$`, out)

	// kumo keeps no RedriveAllowPolicy (it drops the attribute), so its
	// DLQ is a hand-made queue to the tool: moving needs the flag.
	code, out, errOut = runCmd("move", "--dlq", dlq, "--to", target, "--wait", "0s", "--allow-any-target")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "moved 1, skipped 0, failed 0; stopped: empty\n", out)
	require.Contains(t, errOut, "moving from "+dlq+" to "+target)

	res, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(target)})
	require.NoError(t, err)
	require.Len(t, res.Messages, 1)
}

func TestRunExitCodes(t *testing.T) {
	dlq, target, _ := setup(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"help"}, 0, "Usage:", ""},
		{"unknown command", []string{"purge"}, 2, "", "unknown command"},
		{"bad rate", []string{"move", "--dlq", dlq, "--to", dlq + "x", "--rate", "0"}, 2, "", "--rate must be above 0"},
		{"missing queue", []string{"stats", "--dlq", dlq + "-absent", "--wait", "0s"}, 1, "", "the queue does not exist"},
		{"missing target", []string{"move", "--dlq", dlq, "--to", target + "-absent", "--wait", "0s"}, 1, "", "the queue does not exist"},
		{"target not allowed", []string{"move", "--dlq", dlq, "--to", target, "--wait", "0s"}, 2, "", "redrive: target not allowed: dead-letter queue "},
		{"target not allowed, dry run", []string{"move", "--dlq", dlq, "--to", target, "--wait", "0s", "--dry-run"}, 2, "", "--allow-any-target"},
		{"target not allowed, native", []string{"move", "--dlq", dlq, "--to", target, "--wait", "0s", "--all-native"}, 2, "", "has no RedriveAllowPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(tt.args...)
			require.Equal(t, tt.code, code)
			require.Contains(t, out, tt.stdout)
			require.Contains(t, errOut, tt.stderr)
		})
	}
}

// TestRunSaysWhatIsMissing: a missing region, missing credentials, and an
// endpoint that is down or is not SQS each get their own message, not one
// "transport" for all.
func TestRunSaysWhatIsMissing(t *testing.T) {
	dlq, _, _ := setup(t)
	downURL := nettest.RefusedURL
	notSQS := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notSQS.Close)

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no region", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "no AWS region: set AWS_REGION"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true"},
			"ReceiveMessage: no credentials (no AWS credentials found"},
		{"endpoint down", map[string]string{"AWS_ENDPOINT_URL": downURL}, "ReceiveMessage: connection refused (nothing listens at the endpoint"},
		{"endpoint not SQS", map[string]string{"AWS_ENDPOINT_URL": notSQS.URL}, "ReceiveMessage: not an SQS answer (the endpoint answered, but not as SQS"},
		{"host unknown", map[string]string{"AWS_ENDPOINT_URL": "http://no-such-host.invalid"}, "ReceiveMessage: host not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCmd("stats", "--dlq", dlq, "--wait", "0s")
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tt.want)
			require.NotContains(t, errOut, ": transport")
		})
	}
}

func TestRunRefusesAnUnknownErrorClass(t *testing.T) {
	dlq, target, _ := setup(t)
	for _, class := range []string{"held", "update", "permanent", "none"} {
		code, _, errOut := runCmd("move", "--dlq", dlq, "--to", target, "--wait", "0s", "--dry-run", "--allow-any-target", "--error-class", class)
		require.Equal(t, 0, code, "%s: %s", class, errOut)
	}
	code, out, errOut := runCmd("move", "--dlq", dlq, "--to", target, "--wait", "0s", "--dry-run", "--allow-any-target", "--error-class", "exhuasted")
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "unknown --error-class; the classes are permanent, exhausted, malformed, unconfirmed, guard, held, update, none")
}
