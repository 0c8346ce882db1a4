package devstack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// A child's processor time stays counted once the child is gone, among
// its parent's reaped children: a killed bootstrap's time is not lost.
func TestProcCPUCountsReapedChildren(t *testing.T) {
	_, before := procCPU(os.Getpid())
	// About half a second of a shell's processor time, then the shell exits.
	require.NoError(t, exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done").Run())
	_, after := procCPU(os.Getpid())
	assert.Greater(t, after-before, 50*time.Millisecond)
}
