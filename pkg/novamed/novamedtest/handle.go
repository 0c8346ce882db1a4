package novamedtest

import (
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

// Answering a request as NovaMed's documentation says: authentication,
// headers, decoding, validation, creation and its logs.

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
