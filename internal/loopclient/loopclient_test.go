package loopclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/novamed/bridge/internal/nettest"
)

// answerSize is well above what loopback socket buffers hold, so that an
// answer not read inside Do is not whole in the kernel either.
const answerSize = 8 << 20

// Every call gets a connection of its own, and the answer is whole in
// memory when Do returns: reading it after the server is gone still works.
func TestOneConnectionPerCallAnswerReadWhole(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", answerSize))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	c := Buffered(New())
	var resps []*http.Response
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	srv.CloseClientConnections()
	srv.Close()
	for i, resp := range resps {
		body, err := io.ReadAll(resp.Body)
		if err != nil || len(body) != answerSize {
			t.Fatalf("answer %d: %d bytes, %v", i, len(body), err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections for 3 calls", n)
	}
}

// An answer cut mid-body is still a cut answer for the caller, not an
// error of Do (which the SDK would retry for any operation): what came,
// then the read error.
func TestCutAnswerIsReportedAsCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := nettest.CutAnswer(w, "", "half of ten", 4); err != nil {
			t.Errorf("cut answer: %v", err)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := Buffered(New()).Do(req)
	if err != nil {
		t.Fatalf("Do returned the cut as its own error: %v", err)
	}
	// The cut reads as io.ErrUnexpectedEOF, or (a race inside net/http)
	// as the transport's closed connection; never as a whole answer.
	body, err := io.ReadAll(resp.Body)
	if err == nil || !strings.HasPrefix("half", string(body)) {
		t.Fatalf("body %q, error %v; want what came of \"half\", then the read error", body, err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("error %v: neither a short body nor a closed connection", err)
	}
}

// LoadConfig applies the caller's options and hands out the buffered,
// one-connection-per-call client.
func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig(context.Background(), config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Fatalf("region %q: the caller's options were not applied", cfg.Region)
	}
	b, ok := cfg.HTTPClient.(buffered)
	if !ok {
		t.Fatalf("HTTP client %T, not the buffered one", cfg.HTTPClient)
	}
	bc, ok := b.inner.(*awshttp.BuildableClient)
	if !ok || !bc.GetTransport().DisableKeepAlives {
		t.Fatalf("inner client %T keeps connections alive", b.inner)
	}
}
