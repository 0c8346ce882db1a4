package novamedtest

import (
	"net/http"
	"time"
)

// Fault injection: latency, error statuses, lost responses and dropped
// connections, as a NovaMed under load or in trouble answers.

// SetLatency delays every answer by d. The delay comes after the record is
// created, as a slow NovaMed would: a client that times out may still have
// created it. Zero removes the delay.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext answers the next n requests with status (and a Retry-After of
// retryAfter, rounded up to whole seconds, when it is positive) without
// looking at them. n of zero clears it.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failStatus, s.failRetry = n, status, retryAfter
}

// FailFraction answers a fraction f (0 to 1) of requests with status (and
// a Retry-After of retryAfter, rounded up to whole seconds, when it is
// positive), drawn from the seeded RNG (see WithSeed). Zero clears it.
func (s *Server) FailFraction(f float64, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFraction, s.fractionCode, s.fractionRetry = min(max(f, 0), 1), status, retryAfter
}

// DropAfterCreate makes the next n creates lose their answer: the record is
// created, then the connection is closed without a response.
func (s *Server) DropAfterCreate(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext = n
}

// FailAfterCreate makes the next n creates answer status after the record
// was created, as NovaMed failing after its write or a gateway (502, 504)
// losing NovaMed's answer would. n of zero clears it.
func (s *Server) FailAfterCreate(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfterNext, s.failAfterCode = n, status
}

// injectedFault reports whether this request is to fail by FailNext or
// FailFraction.
func (s *Server) injectedFault() (status int, retry time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return s.failStatus, s.failRetry, true
	}
	if s.failFraction > 0 && s.rng.Float64() < s.failFraction {
		return s.fractionCode, s.fractionRetry, true
	}
	return 0, 0, false
}

// wait applies the injected latency, cut short when the client goes away or
// the sandbox closes.
func (s *Server) wait(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.done:
	}
}

// dropConnection closes the connection without writing a response: the
// "lost response" a client cannot tell from a crash after the create.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
}
