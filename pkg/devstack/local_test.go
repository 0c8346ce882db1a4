package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/logtest"
)

// TestLocalPrintsLinesThatWorkAsPrinted runs make local's stack and uses
// what it prints as an operator would: a curl line whose record NovaMed
// refuses, the sign line that re-signs it, then, with the printed exports,
// bin/redrive stats, peek and move exactly as printed (move with no
// --allow-any-target: the DLQ carries template.yaml's RedriveAllowPolicy).
func TestLocalPrintsLinesThatWorkAsPrinted(t *testing.T) {
	root, err := FindRoot(".")
	require.NoError(t, err)
	work := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(work, "bin", "redrive"), "github.com/novamed/bridge/cmd/redrive")
	build.Dir = root
	b, err := build.CombinedOutput()
	require.NoError(t, err, string(b))

	var out logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Stack, 1)
	done := make(chan error, 1)
	go func() {
		done <- Local(ctx, LocalOptions{Root: root, Addr: "127.0.0.1:0", Out: &out, Ready: func(s *Stack) { ready <- s }})
	}()
	var stack *Stack
	select {
	case stack = <-ready:
	case err := <-done:
		t.Fatalf("local stopped: %v\n%s", err, out.String())
	}
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})

	printed := out.String()
	assert.Contains(t, printed, "make local V=1")
	for _, want := range []string{stack.QueueURL, stack.DLQURL, stack.ParamPrefix, stack.Endpoint} {
		assert.Contains(t, printed, want)
	}
	var curls, signs, redrives []string
	var exports string
	for _, line := range strings.Split(printed, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "curl "):
			curls = append(curls, line)
		case strings.HasPrefix(line, "# fresh: bin/devstack sign "):
			signs = append(signs, strings.TrimPrefix(line, "# fresh: bin/devstack "))
		case strings.HasPrefix(line, "export AWS_ENDPOINT_URL="):
			exports = line
		case strings.HasPrefix(line, "bin/redrive "):
			redrives = append(redrives, line)
		}
	}
	require.NotEmpty(t, curls)
	require.Len(t, signs, len(curls))
	require.NotEmpty(t, exports)
	require.Len(t, redrives, 4)
	for _, want := range []string{"AWS_REGION=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="} {
		assert.Contains(t, exports, want)
	}

	// The first sample, refused by NovaMed: dead-lettered.
	stack.Sandbox.FailNext(1, 400, 0)
	status, body := replayCurl(t, curls[0])
	require.Equal(t, http.StatusAccepted, status, body)
	require.NoError(t, stack.WaitDrained(context.Background(), 90*time.Second))
	delivered := len(stack.Sandbox.Patients()) + len(stack.Sandbox.Practitioners())

	// The sign line prints a whole curl line that works too. The
	// webhook-id derives from the signing time, so it is the same event
	// (a duplicate) or a new one (its records delivered), as the answer
	// says.
	var signed, signErr bytes.Buffer
	require.NoError(t, RunCLI(context.Background(), strings.Fields(signs[0]), &signed, &signErr), signErr.String())
	status, body = replayCurl(t, strings.TrimSpace(signed.String()))
	require.Equal(t, http.StatusAccepted, status, body)
	var again struct {
		Records   int  `json:"records"`
		Duplicate bool `json:"duplicate"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &again), body)
	if !again.Duplicate {
		delivered += again.Records
	}
	require.NoError(t, stack.WaitDrained(context.Background(), 90*time.Second))
	require.Equal(t, delivered, len(stack.Sandbox.Patients())+len(stack.Sandbox.Practitioners()))

	run := func(line string) (string, string) {
		t.Helper()
		cmd := exec.Command("bash", "-c", exports+"\n"+line)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE="+filepath.Join(work, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(work, "none"), "AWS_PROFILE=")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		require.NoError(t, cmd.Run(), "%s\n%s", line, e.String())
		return o.String(), e.String()
	}
	stats, _ := run(redrives[0])
	assert.Regexp(t, `(?m)^permanent\s+validation_error\s+1\b`, stats)
	peek, _ := run(redrives[1])
	assert.Contains(t, peek, "validation_error")
	assert.NotContains(t, peek, "[PHI]", "peek shows the record de-identified with the local key (--param-prefix)")
	traced, _ := run(redrives[3])
	assert.Contains(t, traced, "permanent", "trace tells the refused record's story")
	moved, notes := run(redrives[2])
	assert.Equal(t, "moved 1, skipped 0, failed 0; stopped: empty\n", moved)
	assert.NotContains(t, notes, "--allow-any-target")

	require.NoError(t, stack.WaitDrained(context.Background(), 90*time.Second))
	assert.Equal(t, delivered+1, len(stack.Sandbox.Patients())+len(stack.Sandbox.Practitioners()), "the moved record is delivered")

	// The printed ENV_VARS file runs intake alone against this stack, as
	// make invoke-intake does without Docker.
	envVars := regexp.MustCompile(`make invoke-intake ENV_VARS=(\S+)`).FindStringSubmatch(printed)
	require.NotNil(t, envVars)
	var answer, logs bytes.Buffer
	require.NoError(t, Invoke(context.Background(), InvokeOptions{
		Root: root, Function: IntakeFunction, Event: filepath.Join(root, "events", "intake", "form-patient.json"),
		EnvVars: envVars[1], RIE: true, Out: &answer, Logs: &logs,
	}), logs.String())
	assert.Contains(t, answer.String(), `"statusCode":202`, "intake's warnings and errors:\n%s", problems(logs.String()))
	require.NoError(t, stack.WaitDrained(context.Background(), 90*time.Second))
	assert.Equal(t, delivered+2, len(stack.Sandbox.Patients())+len(stack.Sandbox.Practitioners()), "the invoked record is delivered")
}

// replayCurl sends what a printed curl line sends: its URL, its -H headers
// and the file of --data-binary. It checks that the line prints the status.
func replayCurl(t *testing.T, line string) (int, string) {
	t.Helper()
	words := shellWords(t, line)
	require.Equal(t, "curl", words[0])
	var url, file string
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-w":
			i++
			assert.Contains(t, words[i], "%{http_code}", "the line prints the HTTP status")
		case w == "-H":
			i++
			k, v, ok := strings.Cut(words[i], ": ")
			require.True(t, ok, words[i])
			header.Set(k, v)
		case w == "--data-binary":
			i++
			file = strings.TrimPrefix(words[i], "@")
		case strings.HasPrefix(w, "http://"):
			url = w
		}
	}
	require.NotEmpty(t, url)
	body, err := os.ReadFile(file)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var answer bytes.Buffer
	_, _ = answer.ReadFrom(resp.Body)
	return resp.StatusCode, answer.String()
}

// shellWords splits a line as the shell would, for the quoting the printed
// lines use (single quotes).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.False(t, quoted, "unbalanced quotes")
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestLocalReportsABusyPortBeforeTheBuild(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	var out bytes.Buffer
	err = Local(context.Background(), LocalOptions{Root: t.TempDir(), Addr: l.Addr().String(), Out: &out})
	require.Error(t, err)
	assert.Contains(t, err.Error(), l.Addr().String()+" is in use")
	assert.Contains(t, err.Error(), "-addr (make local ADDR=")
	assert.Empty(t, out.String(), "nothing built or started")
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"local", "-h"}, {"demo", "-h"}, {"sign", "--help"}} {
		var out, errOut bytes.Buffer
		require.NoError(t, RunCLI(context.Background(), args, &out, &errOut), "%v", args)
		assert.Contains(t, out.String(), "usage:", "%v", args)
	}
	var out, errOut bytes.Buffer
	err := RunCLI(context.Background(), []string{"local", "-no-such-flag"}, &out, &errOut)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrDemoFailed))
}
