package devstack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startEcho builds testdata/echofn and the emulator and starts them.
func startEcho(t *testing.T) *Function {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []struct{ out, pkg string }{
		{filepath.Join(dir, "rie"), rieTool},
		{filepath.Join(dir, "bootstrap"), "./testdata/echofn"},
	} {
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	f, err := StartFunction(context.Background(), FunctionConfig{
		Name: "echo", RIE: filepath.Join(dir, "rie"), Bootstrap: filepath.Join(dir, "bootstrap"),
		Env: []string{"ECHO_ENV=seen"}, Logs: io.Discard,
	})
	require.NoError(t, err)
	t.Cleanup(f.Close)
	return f
}

func TestFrontInvokesTheFunctionUnderTheEmulator(t *testing.T) {
	f := startEcho(t)
	srv := httptest.NewServer(&Front{Intake: f, Stage: "dev"})
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/webhooks/acme-ehr", "application/json", strings.NewReader(`{"hello":1}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 202, resp.StatusCode)
	assert.Equal(t, `{"hello":1}`, string(body))
	assert.Equal(t, "acme-ehr", resp.Header.Get("x-source"), "the path parameter reaches the function")
	assert.Equal(t, "seen", resp.Header.Get("x-env"), "the environment reaches the function")

	// A handler error comes back as HTTP 200 with errorMessage from the
	// emulator; the front must turn it into API Gateway's 500.
	resp, err = http.Post(srv.URL+"/webhooks/acme-ehr", "text/plain", strings.NewReader("fail"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 500, resp.StatusCode)

	resp, err = http.Post(srv.URL+"/elsewhere", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)
}

func TestInvokeReportsHandlerErrors(t *testing.T) {
	f := startEcho(t)
	_, err := f.Invoke(context.Background(), map[string]any{"body": "fail"})
	assert.ErrorIs(t, err, ErrFunction)
	out, err := f.Invoke(context.Background(), map[string]any{"body": "ok"})
	require.NoError(t, err)
	assert.Contains(t, string(out), `"statusCode":202`)
}

func TestToEventIsPayloadFormat2(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/tally?x=1", nil)
	r.Header.Add("Webhook-Id", "msg_1")
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	ev := toEvent(r, "tally", []byte{0xff, 0xfe}, "dev")
	assert.Equal(t, "2.0", ev.Version)
	assert.Equal(t, "msg_1", ev.Headers["webhook-id"], "API Gateway lower-cases header names")
	assert.Equal(t, "a,b", ev.Headers["x-multi"])
	assert.Equal(t, "x=1", ev.RawQueryString)
	assert.True(t, ev.IsBase64Encoded, "binary bodies are base64-encoded")
	assert.Equal(t, "//4=", ev.Body)
	assert.Equal(t, "POST", ev.RequestContext.HTTP.Method)
}

func TestSourceIP(t *testing.T) {
	assert.Equal(t, "127.0.0.1", sourceIP("127.0.0.1:5555"))
	assert.Equal(t, "::1", sourceIP("[::1]:5555"))
	assert.Equal(t, "pipe", sourceIP("pipe"))
}

// TestCloseStopsTheBootstrapToo: the emulator starts the function as its
// child; Close must leave neither running.
func TestCloseStopsTheBootstrapToo(t *testing.T) {
	f := startEcho(t)
	_, err := f.Invoke(context.Background(), map[string]any{"body": "ok"}) // the bootstrap is running now
	require.NoError(t, err)
	group := f.cmd.Process.Pid
	require.NoError(t, syscall.Kill(-group, 0), "the group exists while the function runs")
	f.Close()
	assert.Eventually(t, func() bool { return errors.Is(syscall.Kill(-group, 0), syscall.ESRCH) }, 5*time.Second, 50*time.Millisecond,
		"no process of the function's group is left")
}
