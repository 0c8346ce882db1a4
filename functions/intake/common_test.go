package main

// What every test of the package shares, with or without kumo: the files
// that start kumo are built unless the nokumo tag is set, which make fuzz
// sets so that FuzzHandler's binary does not carry kumo's coverage
// counters (see fuzz_test.go).

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// Test configuration of the deployment. The pseudonym key is a test key.
const (
	testClinicID     = "6f1c3a52-8e0b-4c1e-9a57-2d4b8e7f1a90"
	testPseudonymKey = "bG9jYWwtdGVzdC1wc2V1ZG9ueW0ta2V5LTAxMjM0NTY3ODk=" // base64, as operators create it
)

// repoRoot is where events/ lives, from this package's directory.
var repoRoot = filepath.Join("..", "..")

// loadSources reads the local test sources (events/sources).
func loadSources(t testing.TB) []samples.Source {
	t.Helper()
	srcs, err := samples.LoadSources(filepath.Join(repoRoot, "events", "sources"))
	require.NoError(t, err)
	return srcs
}

// loadEvent reads events/intake/<name>.json.
func loadEvent(t testing.TB, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "events", "intake", name+".json"))
	require.NoError(t, err)
	ev, err := samples.DecodeEvent(data)
	require.NoError(t, err)
	return ev
}

// decodeRecord reads a queued record strictly.
func decodeRecord(t testing.TB, m queue.Message) novamed.Record {
	t.Helper()
	rec, dec, err := novamed.DecodeRecord(m.Kind, m.Record)
	require.NoError(t, err)
	require.Zero(t, dec.Dropped, "queued record holds only NovaMed fields")
	return rec
}
