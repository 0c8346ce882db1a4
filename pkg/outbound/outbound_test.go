package outbound

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestTransport(t *testing.T) {
	tr := Transport(16, 4)
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Fatal("TLS 1.2 is not required")
	}
	if tr.TLSHandshakeTimeout <= 0 || tr.DialContext == nil {
		t.Fatal("no handshake or dial bound")
	}
	if tr.MaxIdleConns != 16 || tr.MaxIdleConnsPerHost != 4 {
		t.Fatal("idle pool sizes not applied")
	}
	if NoRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Fatal("NoRedirect follows")
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true,
		"::1%lo": false, "169.254.169.254": false, "10.0.0.1": false, "example.org": false, "": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
