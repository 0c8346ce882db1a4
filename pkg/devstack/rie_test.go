package devstack

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
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
	f, err := StartFunction(context.Background(), buildEcho(t))
	require.NoError(t, err)
	t.Cleanup(f.Close)
	return f
}

// buildEcho builds testdata/echofn and the emulator.
func buildEcho(t *testing.T) FunctionConfig {
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
	return FunctionConfig{
		Name: "echo", RIE: filepath.Join(dir, "rie"), Bootstrap: filepath.Join(dir, "bootstrap"),
		Env: []string{"ECHO_ENV=seen"}, Logs: io.Discard,
	}
}

// A pool runs its instances' invocations at once, each in a process of
// its own; KillBusy kills one that is running an invocation, which ends in
// an error and is counted, while the others finish; the killed instance
// serves the next invocation.
func TestPoolRunsInstancesAtOnceAndKillsABusyOne(t *testing.T) {
	const n = 3
	p, err := StartPool(context.Background(), buildEcho(t), n)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	assert.Equal(t, n, p.Instances())
	assert.False(t, p.KillBusy(), "no instance is busy yet")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := p.Invoke(context.Background(), map[string]any{"body": "hold:" + l.Addr().String()})
			errs <- err
		}()
	}
	// All n invocations are running at once: each has dialled in.
	conns := make([]net.Conn, 0, n)
	pids := map[string]bool{}
	for range n {
		c, err := l.Accept()
		require.NoError(t, err)
		conns = append(conns, c)
		pid, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		pids[pid] = true
	}
	assert.Len(t, pids, n, "each invocation runs in a process of its own")

	require.True(t, p.KillBusy(), "an instance is busy: its bootstrap is killed")
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			assert.ErrorIs(t, err, ErrFunction)
			failed++
		}
	}
	assert.Equal(t, 1, failed, "the killed invocation fails, the others finish")
	assert.Equal(t, 1, p.KilledMidInvoke())

	for range n { // every instance, the killed one's emulator included, serves again
		out, err := p.Invoke(context.Background(), map[string]any{"body": "ok"})
		require.NoError(t, err)
		assert.Contains(t, string(out), `"statusCode":202`)
	}
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
