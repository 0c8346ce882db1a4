package ehrtest

import (
	"net/http"
	"sync"
	"time"
)

// ExpireTokens makes every access token issued so far expired, as if their
// lifetime had run out: the next read with one answers 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, t := range s.tokens {
		t.expires = time.Time{}
		s.tokens[h] = t
	}
}

// FailTokenNext answers the next n token requests with status (and
// Retry-After when retryAfter is positive). For 400 and 401 the body is
// {"error": "invalid_client"}. n of zero clears it.
func (s *Server) FailTokenNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenFault = fault{n: n, status: status, retryAfter: retryAfter}
}

// FailNext answers the next n FHIR reads with status (and Retry-After when
// retryAfter is positive), before looking at the token. n of zero clears
// it.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fhirFault = fault{n: n, status: status, retryAfter: retryAfter}
}

// RedirectNext answers the next n FHIR reads with 302 to location.
func (s *Server) RedirectNext(n int, location string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fhirFault = fault{n: n, status: http.StatusFound, location: location}
}

// HoldTokens makes token requests wait until release is called (or the
// server closes), so a test can have callers queue up behind one request.
func (s *Server) HoldTokens() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold == ch {
				s.hold = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// SetLatency delays every FHIR read by d (until Close). Zero removes it.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// TokenRequests counts requests to the token endpoint, refused ones
// included.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// TokensIssued counts access tokens issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// Refusals counts token requests refused, by reason (a Refused constant).
func (s *Server) Refusals() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.refusals))
	for k, v := range s.refusals {
		out[k] = v
	}
	return out
}

// Fetches counts FHIR reads of a resource type, refused ones included.
func (s *Server) Fetches(resourceType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[resourceType]
}

// TotalFetches counts all FHIR reads.
func (s *Server) TotalFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.fetches {
		n += v
	}
	return n
}

// takeFault consumes one injected fault, if any.
func (s *Server) takeFault(f *fault) (fault, bool) {
	if f.n <= 0 {
		return fault{}, false
	}
	f.n--
	return *f, true
}
