// Package nettest holds the network faults tests need on loopback, made so
// that they happen every time and only where asked.
//
// RefusedURL is an address nothing listens on. A test that closed a
// listener to get one could see another test's server take the port.
//
// CutAnswer answers an HTTP request with a body cut short, for tests of the
// clients that must survive such answers (pkg/awsclients' SSM client,
// internal/loopclient). The local stack met them now and then on loopback,
// from kumo, cause unknown (docs/faults.md). A cut is only a cut if the
// client reads the bytes that came before the connection ends, so
// CutAnswer closes as a well-behaved server that stops mid-body does: it
// sends its FIN and waits for the client to close. A socket closed at once
// with unread data sends a reset instead, which can reach the client
// before the answer's first bytes: a connection error, which the AWS SDK
// retries by itself, not a cut answer.
package nettest

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// RefusedAddr refuses every connection: port 1 on loopback, a port no
// development machine or CI runner serves, below the ports a listener on
// port 0 is given and, on most systems, open only to a privileged process
// (TestRefusedAddrRefuses checks it here). RefusedURL is its URL.
const (
	RefusedAddr = "127.0.0.1:1"
	RefusedURL  = "http://" + RefusedAddr
)

// CutAnswer writes a 200 whose Content-Length promises the whole body, sends
// only body[:sent] and closes the connection. header holds extra header
// lines, each ending in "\r\n".
func CutAnswer(w http.ResponseWriter, header, body string, sent int) error {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return err
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\n" + header)
	_, _ = buf.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:sent])
	_ = buf.Flush()
	closeAfterClient(conn)
	return nil
}

// closeAfterClient sends conn's FIN and closes it once the client has
// closed its side (or after 10 s).
func closeAfterClient(conn net.Conn) {
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
}
