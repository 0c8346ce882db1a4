package loopclient

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Every call gets a connection of its own, and the answer is whole in
// memory when Do returns: reading it after the server is gone still works.
func TestOneConnectionPerCallAnswerReadWhole(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", 100_000))
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
		if err != nil || len(body) != 100_000 {
			t.Fatalf("answer %d: %d bytes, %v", i, len(body), err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections for 3 calls", n)
	}
}
