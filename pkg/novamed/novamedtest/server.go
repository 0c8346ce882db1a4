// Package novamedtest is the NovaMed sandbox: an in-process HTTP server that
// behaves as NovaMed's partner documentation (edition 1.0.0) says, with fault
// injection (latency, error statuses, lost responses) and a development-data
// tripwire. Every test that talks to NovaMed, and the local stack, use it.
//
// The sandbox never logs or reports a request value: its logs hold method,
// path, status and latency; its violations name a field and a canary index.
package novamedtest

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

// NovaMed's documented error messages.
const (
	MsgUnauthorized      = novamed.MsgUnauthorized
	MsgClinicNotFound    = novamed.MsgClinicNotFound
	MsgClinicIDNotUUID   = novamed.MsgClinicIDNotUUID
	MsgValidation        = novamed.MsgValidation
	MsgNotFound          = novamed.MsgNotFound
	msgMethodNotAllowed  = "Method not allowed"
	msgPayloadTooLarge   = "Payload too large"
	msgTooManyRequests   = "Too many requests"
	msgInternal          = "Internal server error"
	patientCreatedMsg    = "Patient created successfully"
	practitionerCreatedM = "Practitioner created successfully"
)

// maxBodyBytes bounds a request body; the largest legitimate one carries a
// 128 KiB signature image.
const maxBodyBytes = 1 << 20

// TB is the part of testing.TB the sandbox uses: testing.TB satisfies it.
// It is an interface so that the sandbox command does not link "testing".
type TB interface {
	Errorf(format string, args ...any)
	Cleanup(func())
}

// Option configures a Server.
type Option func(*Server)

// WithT reports development violations as test failures of t the moment they
// happen (Errorf, which is safe from the handler goroutine) and closes the
// server when the test ends.
func WithT(t TB) Option { return func(s *Server) { s.t = t } }

// WithAPIKey sets the key the sandbox accepts (default: a random one).
func WithAPIKey(key string) Option { return func(s *Server) { s.key = key } }

// WithClinicID sets the first clinic's id, a UUID (default: a random one).
func WithClinicID(id string) Option { return func(s *Server) { s.clinic = id } }

// WithSeed seeds the RNG behind FailFraction so a test run is reproducible.
func WithSeed(seed uint64) Option { return func(s *Server) { s.seed = seed } }

// WithLogger logs one line per request: method, path, status, latency. Never
// a header value or a body.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Patient is a patient the sandbox created.
type Patient struct {
	ID      string
	Request novamed.PatientRequest
}

// Practitioner is a practitioner the sandbox created.
type Practitioner struct {
	ID      string
	Request novamed.PractitionerRequest
}

// Violation is a development request that carried a canary value. It names
// the canary by index and the field by name, never the value.
type Violation struct {
	Path   string
	Field  string
	Canary int
}

func (v Violation) String() string {
	return fmt.Sprintf("novamed sandbox: development request to %s carries canary #%d in %s", v.Path, v.Canary, v.Field)
}

type patientIdentity struct{ clinic, first, last, dob, email string }

// Server is the NovaMed sandbox. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port, once the server is started.
	URL string

	t    TB
	log  *slog.Logger
	seed uint64
	ts   *httptest.Server
	done chan struct{} // closed by Close: ends injected latency

	mu            sync.Mutex
	key           string
	clinic        string
	clinics       map[string]bool
	patients      []Patient
	practitioners []Practitioner
	seenPatients  map[patientIdentity]bool
	seenNPIs      map[string]bool
	requests      int
	duplicates    int
	latency       time.Duration
	failNext      int
	failStatus    int
	failRetry     time.Duration
	failFraction  float64
	fractionCode  int
	fractionRetry time.Duration
	rng           *rand.Rand
	dropNext      int
	failAfterNext int
	failAfterCode int
	development   bool
	canaries      []canary
	violations    []Violation
	closeOnce     sync.Once
}

// New starts a sandbox on a loopback port.
func New(opts ...Option) *Server {
	s := NewUnstarted(opts...)
	s.Start(nil)
	return s
}

// NewUnstarted returns a sandbox that is not listening yet: serve its
// Handler yourself, or call Start.
func NewUnstarted(opts ...Option) *Server {
	s := &Server{
		done:         make(chan struct{}),
		seed:         1,
		clinics:      map[string]bool{},
		seenPatients: map[patientIdentity]bool{},
		seenNPIs:     map[string]bool{},
	}
	for _, opt := range opts {
		opt(s)
	}
	if s.key == "" {
		s.key = "nmsbx_" + randomHex(16)
	}
	if s.clinic == "" {
		s.clinic = NewUUID()
	}
	s.clinics[strings.ToLower(s.clinic)] = true
	s.rng = rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
	if s.t != nil {
		s.t.Cleanup(s.Close)
	}
	return s
}

// Start serves the sandbox on l, or on a fresh 127.0.0.1 port when l is nil,
// and sets URL. It returns at once; Close stops the server.
func (s *Server) Start(l net.Listener) {
	ts := httptest.NewUnstartedServer(s.Handler())
	if l != nil {
		_ = ts.Listener.Close()
		ts.Listener = l
	}
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Start()
	s.ts = ts
	s.URL = ts.URL
}

// Close stops the server and ends any injected latency. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// Handler returns the sandbox's HTTP handler, to serve on a listener of your
// choice.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// APIKey returns the key the sandbox currently accepts.
func (s *Server) APIKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// SetAPIKey rotates the key: from now on only k is accepted, the old key gets
// 401.
func (s *Server) SetAPIKey(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = k
}

// ClinicID returns the first clinic's id.
func (s *Server) ClinicID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clinic
}

// AddClinic creates another clinic and returns its id.
func (s *Server) AddClinic() string {
	id := NewUUID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clinics[id] = true
	return id
}

// Patients returns a copy of the patients created so far, in order.
func (s *Server) Patients() []Patient {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Patient(nil), s.patients...)
}

// Practitioners returns a copy of the practitioners created so far, in order.
func (s *Server) Practitioners() []Practitioner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Practitioner(nil), s.practitioners...)
}

// Requests counts every request received, rejected ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Duplicates counts creates of a person already created: the same clinic,
// first and last name, date of birth and email for a patient (names and email
// compared case-insensitively), the same NPI for a practitioner. NovaMed has
// no idempotency key, so like NovaMed the sandbox creates them anyway.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// MarkDevelopment marks the sandbox as NovaMed's Development environment,
// where PHI must never arrive, and adds canaries: values that must not appear
// in any request body. Each body is checked for each canary case-insensitively
// after NFKC folding, and again with spaces and punctuation removed. A hit is
// recorded in Violations (and fails the test given WithT).
func (s *Server) MarkDevelopment(canaries ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.development = true
	for _, c := range canaries {
		s.canaries = append(s.canaries, newCanary(c))
	}
}

// Violations returns the canary hits so far.
func (s *Server) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Violation(nil), s.violations...)
}
