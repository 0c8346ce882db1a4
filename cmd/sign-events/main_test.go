package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sourcesDir = filepath.Join("..", "..", "events", "sources")

func TestWriteThenCheck(t *testing.T) {
	out := t.TempDir()
	var stdout bytes.Buffer
	clock := func() time.Time { return time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC) }
	require.NoError(t, run([]string{"-sources", sourcesDir, "-out", out}, &stdout, clock))
	assert.Contains(t, stdout.String(), "2026-02-01T12:00:00Z")
	files, err := filepath.Glob(filepath.Join(out, "*.json"))
	require.NoError(t, err)
	assert.NotEmpty(t, files)

	stdout.Reset()
	require.NoError(t, run([]string{"-sources", sourcesDir, "-out", out, "-check"}, &stdout, clock))
	assert.Contains(t, stdout.String(), "in sync")

	require.NoError(t, os.WriteFile(files[0], []byte("{}"), 0o644))
	stdout.Reset()
	err = run([]string{"-sources", sourcesDir, "-out", out, "-check"}, &stdout, clock)
	assert.ErrorContains(t, err, "out of date")
	assert.Contains(t, stdout.String(), filepath.Base(files[0]))
}

// TestCommittedEventsInSync: events/intake matches the templates.
func TestCommittedEventsInSync(t *testing.T) {
	var stdout bytes.Buffer
	err := run([]string{"-sources", sourcesDir, "-out", filepath.Join("..", "..", "events", "intake"), "-check"}, &stdout, time.Now)
	require.NoError(t, err, stdout.String())
}

func TestReproducibleNow(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	var stdout bytes.Buffer
	for _, dir := range []string{a, b} {
		require.NoError(t, run([]string{"-sources", sourcesDir, "-out", dir, "-now", "2026-01-15T10:00:00Z"}, &stdout, time.Now))
	}
	fa, err := os.ReadFile(filepath.Join(a, "fhir-patient.json"))
	require.NoError(t, err)
	fb, err := os.ReadFile(filepath.Join(b, "fhir-patient.json"))
	require.NoError(t, err)
	assert.Equal(t, fa, fb)
}

func TestBadArguments(t *testing.T) {
	var stdout bytes.Buffer
	assert.Error(t, run([]string{"-sources", sourcesDir, "-now", "yesterday"}, &stdout, time.Now))
	assert.Error(t, run([]string{"-sources", t.TempDir()}, &stdout, time.Now))
	assert.Error(t, run([]string{"extra"}, &stdout, time.Now))
}
