// Package ehrtest is the EHR sandbox: an in-process HTTP server that is a
// small FHIR R4 server (Patients, Practitioners, Encounters, AuditEvents,
// Appointments, seeded by the test) behind a SMART Backend Services token
// endpoint, with fault injection and counters. The bridge's token client
// (package smart) and fetcher (package ehr) are tested against it over real
// HTTP: the client really signs its assertions and the sandbox really
// verifies them, with go-jose, against the public JWK the test registered.
//
// The token endpoint refuses, as an EHR would, an assertion with a wrong
// aud, an expired one or one expiring too far ahead (over 5 minutes), a
// reused jti, a wrong key or signature, an unknown client and a scope the
// client was not granted; each refusal is counted by reason (Refusals). The
// FHIR endpoints take only an unexpired token whose scopes cover the
// resource type read.
//
// The sandbox never logs a token, an assertion or a resource: its log lines
// hold method, path pattern, status and latency.
package ehrtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/novamed/bridge/pkg/source"
)

// Paths of the sandbox under its URL.
const (
	FHIRPath  = "/fhir/r4"
	TokenPath = "/oauth2/token"
)

// DefaultTokenLifetime is an access token's lifetime unless
// WithTokenLifetime says otherwise.
const DefaultTokenLifetime = 5 * time.Minute

// ResourceTypes the sandbox serves.
var ResourceTypes = []string{"Patient", "Practitioner", "Encounter", "AuditEvent", "Appointment"}

// TB is the part of testing.TB the sandbox uses.
type TB interface {
	Cleanup(func())
}

// Option configures a Server.
type Option func(*Server)

// WithT closes the server when the test ends.
func WithT(t TB) Option { return func(s *Server) { s.t = t } }

// WithClock sets the sandbox's clock (assertion and token expiry), so a test
// can move time without sleeping.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenLifetime sets the lifetime of the access tokens issued.
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// WithListener serves on l instead of a fresh 127.0.0.1 port.
func WithListener(l net.Listener) Option { return func(s *Server) { s.listener = l } }

// WithLogger logs one line per request: method, route, status, latency.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Refusal reasons of the token endpoint, as counted by Refusals.
const (
	RefusedGrantType     = "grant_type"
	RefusedAssertionType = "assertion_type"
	RefusedMalformed     = "malformed_assertion"
	RefusedUnknownClient = "unknown_client"
	RefusedUnknownKey    = "unknown_kid"
	RefusedSignature     = "bad_signature"
	RefusedSubject       = "iss_sub_mismatch"
	RefusedAudience      = "wrong_aud"
	RefusedExpired       = "expired"
	RefusedExpTooFar     = "exp_too_far"
	RefusedNoJTI         = "no_jti"
	RefusedReusedJTI     = "reused_jti"
	RefusedScope         = "invalid_scope"
)

// client is a registered backend service.
type client struct {
	keys   []jose.JSONWebKey // public
	scopes map[string]bool
}

// token is an issued access token (stored by its hash).
type token struct {
	client  string
	scopes  []string
	expires time.Time
}

// fault is an injected answer for the next n requests of one endpoint.
type fault struct {
	n          int
	status     int
	retryAfter time.Duration
	location   string
}

// Server is the EHR sandbox. Its methods are safe for concurrent use.
type Server struct {
	// URL is http://127.0.0.1:port once started.
	URL string

	t        TB
	log      *slog.Logger
	now      func() time.Time
	lifetime time.Duration
	ts       *httptest.Server
	listener net.Listener
	done     chan struct{}

	mu            sync.Mutex
	clients       map[string]*client
	tokens        map[[32]byte]token
	jtis          map[string]time.Time
	resources     map[string][]byte // "Type/id" → JSON
	gone          map[string]bool
	tokenRequests int
	tokensIssued  int
	refusals      map[string]int
	fetches       map[string]int
	tokenFault    fault
	fhirFault     fault
	latency       time.Duration
	hold          chan struct{} // token requests wait while not nil
	closeOnce     sync.Once
}

// New starts a sandbox on a loopback port.
func New(opts ...Option) *Server {
	s := &Server{
		done:      make(chan struct{}),
		now:       time.Now,
		lifetime:  DefaultTokenLifetime,
		clients:   map[string]*client{},
		tokens:    map[[32]byte]token{},
		jtis:      map[string]time.Time{},
		resources: map[string][]byte{},
		gone:      map[string]bool{},
		refusals:  map[string]int{},
		fetches:   map[string]int{},
	}
	for _, opt := range opts {
		opt(s)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	if s.listener != nil {
		_ = ts.Listener.Close()
		ts.Listener = s.listener
	}
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Start()
	s.ts, s.URL = ts, ts.URL
	if s.t != nil {
		s.t.Cleanup(s.Close)
	}
	return s
}

// Close stops the server and ends injected latency. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// BaseURL is the FHIR base URL (fhir_server.base_url).
func (s *Server) BaseURL() string { return s.URL + FHIRPath }

// TokenURL is the token endpoint (fhir_server.token_url and the aud the
// assertions must carry).
func (s *Server) TokenURL() string { return s.URL + TokenPath }

// Handler returns the sandbox's handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.serveToken)
	mux.HandleFunc("GET "+FHIRPath+"/{type}/{id}", s.serveRead)
	return s.logged(mux)
}

// RegisterClient registers a backend service: its client id, its public
// keys (a JWKS, as an operator registers it) and the scopes it may be
// granted. Registering the same id again replaces it.
func (s *Server) RegisterClient(clientID string, jwks jose.JSONWebKeySet, scopes ...string) {
	c := &client{scopes: map[string]bool{}}
	for _, k := range jwks.Keys {
		if k.IsPublic() {
			c.keys = append(c.keys, k)
		} else {
			c.keys = append(c.keys, k.Public())
		}
	}
	for _, sc := range scopes {
		c.scopes[sc] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = c
}

// Put stores a resource (JSON with resourceType and id), replacing one with
// the same type and id.
func (s *Server) Put(resource []byte) error {
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if err := json.Unmarshal(resource, &head); err != nil || head.ResourceType == "" || head.ID == "" {
		return errors.New("ehrtest: resource needs resourceType and id")
	}
	key := head.ResourceType + "/" + head.ID
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources[key] = append([]byte(nil), resource...)
	delete(s.gone, key)
	return nil
}

// MustPut is Put that panics on a resource without resourceType or id.
func (s *Server) MustPut(resource string) {
	if err := s.Put([]byte(resource)); err != nil {
		panic(err)
	}
}

// Delete removes a resource: reads of it answer 410 Gone from now on.
func (s *Server) Delete(resourceType, id string) {
	key := resourceType + "/" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.resources, key)
	s.gone[key] = true
}

func (s *Server) serveRead(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	s.mu.Lock()
	s.fetches[typ]++
	f, faulted := s.takeFault(&s.fhirFault)
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-s.done:
		case <-r.Context().Done():
			return
		}
	}
	if faulted {
		if f.location != "" {
			w.Header().Set("Location", f.location)
		}
		writeFault(w, f)
		return
	}

	tok, ok := s.bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeOutcome(w, http.StatusUnauthorized, "login", "invalid or expired token")
		return
	}
	if !covers(tok.scopes, typ) {
		writeOutcome(w, http.StatusForbidden, "forbidden", "scope does not cover this type")
		return
	}
	key := typ + "/" + id
	s.mu.Lock()
	body, found := s.resources[key]
	gone := s.gone[key]
	s.mu.Unlock()
	switch {
	case gone:
		writeOutcome(w, http.StatusGone, "deleted", "resource deleted")
	case !found:
		writeOutcome(w, http.StatusNotFound, "not-found", "resource not found")
	default:
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(body)
	}
}

// bearer returns the live token the request carries.
func (s *Server) bearer(r *http.Request) (token, bool) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return token{}, false
	}
	sum := sha256.Sum256([]byte(raw)) // looked up by hash: no timing on the token
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[sum]
	if !ok || !s.now().Before(t.expires) {
		return token{}, false
	}
	return t, true
}

// covers reports whether scopes grant a read of typ.
func covers(scopes []string, typ string) bool {
	for _, sc := range scopes {
		rest, ok := strings.CutPrefix(sc, "system/")
		if !ok {
			continue
		}
		t, perm, ok := strings.Cut(rest, ".")
		if !ok || (t != typ && t != "*") {
			continue
		}
		if perm == "read" || perm == "*" || strings.Contains(perm, "r") {
			return true
		}
	}
	return false
}

func writeFault(w http.ResponseWriter, f fault) {
	if f.retryAfter > 0 {
		secs := int((f.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeOutcome(w, f.status, "transient", "injected fault")
}

// writeOutcome writes a FHIR OperationOutcome.
func writeOutcome(w http.ResponseWriter, status int, code, text string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": text}},
	})
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "ehrsbx_" + hex.EncodeToString(b[:])
}

// statusRecorder keeps the status for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if s.log != nil {
			route := r.URL.Path
			if strings.HasPrefix(route, FHIRPath+"/") {
				// The type only: an id in a log is an identifier.
				typ, _, _ := strings.Cut(strings.TrimPrefix(route, FHIRPath+"/"), "/")
				route = FHIRPath + "/" + typ + "/{id}"
			}
			s.log.Info("ehr sandbox", "method", r.Method, "route", route,
				"status", rec.status, "latency", time.Since(start))
		}
	})
}

// Definition returns a fhir_server definition for this sandbox: its base
// and token URLs, clientID, scope and the private key (a JWK as JSON).
func (s *Server) Definition(clientID, scope string, privateKey []byte) source.FHIRServerDefinition {
	return source.FHIRServerDefinition{
		BaseURL: s.BaseURL(), TokenURL: s.TokenURL(), ClientID: clientID, Scope: scope,
		PrivateKey: append(json.RawMessage(nil), privateKey...),
	}
}
