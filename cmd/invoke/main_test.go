package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMakeInvokeWithoutDocker runs make invoke-intake and make
// invoke-dispatch on the path for machines without sam or Docker (RIE=1
// forces it where they are present): the bootstrap under the Lambda RIE
// against a local stack. Intake answers 202, dispatch a batch response
// with no failures, and no file under events/ changes.
func TestMakeInvokeWithoutDocker(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	before := eventFiles(t, root)

	cases := []struct {
		target, want string
	}{
		{"invoke-intake", `"statusCode":202`},
		{"invoke-dispatch", `{"batchItemFailures":null}`},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			cmd := exec.Command("make", "--no-print-directory", c.target, "RIE=1")
			cmd.Dir = root
			var out, logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &logs
			require.NoError(t, cmd.Run(), logs.String())
			assert.Contains(t, logs.String(), "under the Lambda RIE")
			assert.Contains(t, logs.String(), "START RequestId:", "the function's logs are shown")
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			assert.Contains(t, lines[len(lines)-1], c.want, "the function's answer ends the output")
		})
	}
	assert.Equal(t, before, eventFiles(t, root), "events/ is left as committed")
}

func eventFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "events", "*", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[f] = string(b)
	}
	return out
}
