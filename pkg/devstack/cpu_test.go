package devstack

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStartCPUProfileWritesAProfile: `devstack soak -cpuprofile` leaves a
// profile go tool pprof can read (gzip-compressed protobuf) once stopped,
// and a second profile cannot start while one runs.
func TestStartCPUProfileWritesAProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stack.prof")
	stop, err := startCPUProfile(path)
	require.NoError(t, err)
	_, err = startCPUProfile(filepath.Join(t.TempDir(), "second.prof"))
	require.Error(t, err, "only one CPU profile runs at a time")
	stop()

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(b, []byte{0x1f, 0x8b}), "a pprof profile is gzip-compressed")
}

func TestStartCPUProfileRefusesAPathItCannotCreate(t *testing.T) {
	_, err := startCPUProfile(filepath.Join(t.TempDir(), "missing", "stack.prof"))
	require.Error(t, err)
}
