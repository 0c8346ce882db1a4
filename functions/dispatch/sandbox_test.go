package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/novamed/bridge/pkg/novamed/novamedtest"
)

// newSandbox starts the NovaMed sandbox accepting apiKeyV1, with the
// development clinic of the SSM parameters, failing t on any canary hit.
func newSandbox(t testing.TB, opts ...novamedtest.Option) *novamedtest.Server {
	t.Helper()
	base := []novamedtest.Option{
		novamedtest.WithT(t), novamedtest.WithAPIKey(apiKeyV1), novamedtest.WithClinicID(devClinic),
	}
	return novamedtest.New(append(base, opts...)...)
}

// productionClient serves sb over TLS and returns an HTTP client that
// routes every connection (NovaMed's production host included) to it, so
// the production path runs without leaving the machine.
func productionClient(t *testing.T, sb *novamedtest.Server) *http.Client {
	t.Helper()
	ts := httptest.NewTLSServer(sb.Handler())
	t.Cleanup(ts.Close)
	tr := ts.Client().Transport.(*http.Transport).Clone()
	addr := ts.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig.ServerName = "example.com" // in httptest's certificate
	return &http.Client{Transport: tr}
}

// echoingNovaMed answers every request with status and NovaMed's error body
// carrying msg: a NovaMed whose message may echo the request, which the
// sandbox never does.
func echoingNovaMed(t *testing.T, status int, msg string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"success": false, "error": map[string]any{"message": msg}})
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}
