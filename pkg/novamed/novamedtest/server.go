// Package novamedtest is the NovaMed sandbox: an in-process HTTP server that
// behaves as NovaMed's partner documentation (edition 1.0.0) says, with fault
// injection (latency, error statuses, lost responses) and a development-data
// tripwire. Every test that talks to NovaMed, and the local stack, use it.
//
// The sandbox never logs or reports a request value: its logs hold method,
// path, status and latency; its violations name a field and a canary index.
package novamedtest

import (
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
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

// answer is what the handler will write.
type answer struct {
	status     int
	body       any
	retryAfter time.Duration
	drop       bool
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))

	s.mu.Lock()
	s.requests++
	latency := s.latency
	s.mu.Unlock()

	s.checkCanaries(r.URL.Path, body)

	a := s.handle(r, body, readErr)
	s.wait(r, latency)
	if a.drop {
		dropConnection(w)
		s.logRequest(r, 0, start)
		return
	}
	if a.retryAfter > 0 {
		secs := (a.retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
	s.logRequest(r, a.status, start)
}

func (s *Server) handle(r *http.Request, body []byte, readErr error) answer {
	if status, retry, ok := s.injectedFault(); ok {
		return errAnswer(status, defaultMessage(status), nil, retry)
	}
	if !s.authorized(r) {
		return errAnswer(http.StatusUnauthorized, MsgUnauthorized, nil, 0)
	}
	var kind novamed.Kind
	switch r.URL.Path {
	case novamed.PatientPath:
		kind = novamed.KindPatient
	case novamed.PractitionerPath:
		kind = novamed.KindPractitioner
	default:
		return errAnswer(http.StatusNotFound, MsgNotFound, nil, 0)
	}
	if r.Method != http.MethodPost {
		return errAnswer(http.StatusMethodNotAllowed, msgMethodNotAllowed, nil, 0)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(readErr, &tooLarge) {
		return errAnswer(http.StatusRequestEntityTooLarge, msgPayloadTooLarge, nil, 0)
	}
	if readErr != nil {
		return errAnswer(http.StatusBadRequest, MsgValidation, map[string]string{"body": "unreadable"}, 0)
	}
	if details := checkHeaders(r); details != nil {
		return errAnswer(http.StatusBadRequest, MsgValidation, details, 0)
	}
	rec, details := decode(kind, body)
	if details != nil {
		return errAnswer(http.StatusBadRequest, MsgValidation, details, 0)
	}
	return s.create(rec)
}

// create validates a decoded record the way NovaMed documents and stores it.
func (s *Server) create(rec novamed.Record) answer {
	clinicField, clinic := "clinic_id", ""
	if rec.Kind == novamed.KindPatient {
		clinic = rec.Patient.ClinicID
	} else {
		clinicField, clinic = "assigned_clinic", rec.Practitioner.AssignedClinic
	}
	if clinic != "" && !novamed.IsUUID(clinic) {
		return errAnswer(http.StatusBadRequest, MsgClinicIDNotUUID, nil, 0)
	}
	var verr *novamed.ValidationError
	if errors.As(rec.Validate(), &verr) {
		return errAnswer(http.StatusBadRequest, MsgValidation, fieldDetails(verr), 0)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.clinics[strings.ToLower(clinic)] {
		return errAnswer(http.StatusBadRequest, MsgClinicNotFound, map[string]string{clinicField: "not found"}, 0)
	}
	id := NewUUID()
	a := answer{}
	if rec.Kind == novamed.KindPatient {
		p := *rec.Patient
		k := patientIdentity{p.ClinicID, strings.ToLower(p.FirstName), strings.ToLower(p.LastName), p.DateOfBirth, strings.ToLower(p.Email)}
		if s.seenPatients[k] {
			s.duplicates++
		}
		s.seenPatients[k] = true
		s.patients = append(s.patients, Patient{ID: id, Request: p})
		a.status = http.StatusCreated
		a.body = successBody{Success: true, Data: map[string]string{"patient_id": id}, Message: patientCreatedMsg}
	} else {
		p := *rec.Practitioner
		if s.seenNPIs[p.NPINumber] {
			s.duplicates++
		}
		s.seenNPIs[p.NPINumber] = true
		s.practitioners = append(s.practitioners, Practitioner{ID: id, Request: p})
		a.status = http.StatusOK
		a.body = successBody{Success: true, Data: map[string]string{"practitioner_id": id}, Message: practitionerCreatedM}
	}
	if s.dropNext > 0 {
		s.dropNext--
		a.drop = true
	} else if s.failAfterNext > 0 {
		s.failAfterNext--
		return errAnswer(s.failAfterCode, defaultMessage(s.failAfterCode), nil, 0)
	}
	return a
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

// authorized checks the x-api-key header in constant time.
func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Values("x-api-key")
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	return len(got) == 1 && key != "" && subtle.ConstantTimeCompare([]byte(got[0]), []byte(key)) == 1
}

// checkHeaders requires the two JSON headers NovaMed documents.
func checkHeaders(r *http.Request) map[string]string {
	details := map[string]string{}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		details["content-type"] = "must be application/json"
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		details["accept"] = "must accept application/json"
	}
	if len(details) == 0 {
		return nil
	}
	return details
}

func acceptsJSON(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && (mt == "application/json" || mt == "application/*" || mt == "*/*") {
				return true
			}
		}
	}
	return false
}

// decode parses a body as NovaMed would, naming the fields that are not
// strings. Keys match exactly; unknown keys are ignored.
func decode(kind novamed.Kind, body []byte) (novamed.Record, map[string]string) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return novamed.Record{}, map[string]string{"body": "must be a JSON object"}
	}
	details := map[string]string{}
	for _, name := range knownFields[kind] {
		if v, ok := raw[name]; ok && (len(v) == 0 || v[0] != '"') {
			details[name] = "must be a string"
		}
	}
	if len(details) > 0 {
		return novamed.Record{}, details
	}
	rec, _, err := novamed.DecodeRecord(kind, body)
	if err != nil {
		return novamed.Record{}, map[string]string{"body": "duplicate key"}
	}
	return rec, nil
}

// knownFields lists each kind's JSON field names, read from the request types
// so the sandbox cannot drift from them.
var knownFields = map[novamed.Kind][]string{
	novamed.KindPatient:      jsonNames(reflect.TypeFor[novamed.PatientRequest]()),
	novamed.KindPractitioner: jsonNames(reflect.TypeFor[novamed.PractitionerRequest]()),
}

func jsonNames(t reflect.Type) []string {
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

func fieldDetails(v *novamed.ValidationError) map[string]string {
	details := make(map[string]string, len(v.Fields))
	for _, f := range v.Fields {
		details[f.Field] = f.Reason
	}
	return details
}

type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Message string            `json:"message"`
		Details map[string]string `json:"details,omitempty"`
	} `json:"error"`
}

type successBody struct {
	Success bool              `json:"success"`
	Data    map[string]string `json:"data"`
	Message string            `json:"message"`
}

func errAnswer(status int, msg string, details map[string]string, retry time.Duration) answer {
	var b errorBody
	b.Error.Message, b.Error.Details = msg, details
	return answer{status: status, body: b, retryAfter: retry}
}

func defaultMessage(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return MsgValidation
	case status == http.StatusUnauthorized:
		return MsgUnauthorized
	case status == http.StatusNotFound:
		return MsgNotFound
	case status == http.StatusTooManyRequests:
		return msgTooManyRequests
	case status >= 500:
		return msgInternal
	default:
		return http.StatusText(status)
	}
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

func (s *Server) logRequest(r *http.Request, status int, start time.Time) {
	if s.log == nil {
		return
	}
	path := r.URL.Path
	if !knownPath(path) {
		path = "(unknown path)" // a path can carry PHI as easily as a body
	}
	s.log.Info("novamed sandbox request",
		slog.String("method", r.Method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("latency", time.Since(start)))
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
