// Package outbound is how the bridge calls the hosts it does not run:
// NovaMed (pkg/novamed) and the senders' EHRs (pkg/smart, pkg/ehr). Both
// carry PHI or credentials, so both need the same guarantees, written once:
// TLS 1.2 or higher, bounded dial and handshake times, plain HTTP only to
// loopback (the local stack and tests), and no redirects (a redirect could
// carry a request, its key or its token, to another host).
package outbound

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Transport returns a transport with TLS 1.2 or higher and bounded dial and
// handshake times, keeping at most maxIdle idle connections (maxIdlePerHost
// per host). Request deadlines come from the caller's context.
func Transport(maxIdle, maxIdlePerHost int) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   5 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// NoRedirect is a CheckRedirect that follows nothing: the redirect's
// answer is returned as it is.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// IsLoopbackHost reports whether host (without port) is "localhost" or a
// loopback IP address without a zone.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}
