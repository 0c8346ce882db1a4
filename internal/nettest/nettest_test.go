package nettest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// The client reads the promised length, the bytes sent and then the end
// of the connection, not a reset.
func TestCutAnswerSendsPartOfWhatItPromises(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CutAnswer(w, "X-Part: 1\r\n", "half of ten", 4); err != nil {
			t.Errorf("CutAnswer: %v", err)
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read %q, then %v: want the connection's end, not an error", got, err)
	}
	want := "HTTP/1.1 200 OK\r\nX-Part: 1\r\nContent-Length: 11\r\n\r\nhalf"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRefusedAddrRefuses(t *testing.T) {
	conn, err := net.Dial("tcp", RefusedAddr)
	if err == nil {
		conn.Close()
		t.Fatalf("%s accepted a connection", RefusedAddr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", RefusedAddr, err)
	}
}
