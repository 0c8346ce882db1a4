package novamedtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

func patient(clinic string) novamed.PatientRequest {
	return novamed.PatientRequest{
		ClinicID:    clinic,
		FirstName:   "Ada",
		LastName:    "Lovelace",
		DateOfBirth: "1980-12-10",
		Email:       "ada@example.com",
		Gender:      "female",
		Phone:       "+1-555-0199",
		City:        "Springfield",
		State:       "NY",
		Zip:         "10001",
	}
}

func practitioner(clinic string) novamed.PractitionerRequest {
	return novamed.PractitionerRequest{
		FirstName:      "Gregory",
		LastName:       "House",
		Email:          "house@example.com",
		NPINumber:      "1234567893",
		AssignedClinic: clinic,
	}
}

func client(t *testing.T, s *Server) *novamed.Client {
	t.Helper()
	c, err := novamed.NewClient(s.URL, func(context.Context) (string, error) { return s.APIKey(), nil })
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func apiError(t *testing.T, err error) *novamed.APIError {
	t.Helper()
	var e *novamed.APIError
	if !errors.As(err, &e) {
		t.Fatalf("want *novamed.APIError, got %T %v", err, err)
	}
	return e
}

type rawAnswer struct {
	status int
	raw    string
	body   struct {
		Success bool `json:"success"`
		Data    map[string]string
		Error   struct {
			Message string            `json:"message"`
			Details map[string]string `json:"details"`
		} `json:"error"`
	}
}

// rawPost sends a request by hand, to exercise what the client never sends.
func rawPost(t *testing.T, method, url string, header map[string]string, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := rawAnswer{status: resp.StatusCode, raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

func goodHeaders(s *Server) map[string]string {
	return map[string]string{"x-api-key": s.APIKey(), "Content-Type": "application/json", "Accept": "application/json"}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestCreatesPatientsAndPractitioners(t *testing.T) {
	s := New(WithT(t))
	c := client(t, s)
	ctx := context.Background()

	pr, err := c.CreatePatient(ctx, patient(s.ClinicID()))
	if err != nil {
		t.Fatalf("CreatePatient: %v", err)
	}
	if pr.StatusCode != http.StatusCreated || !novamed.IsUUID(pr.PatientID) {
		t.Errorf("patient: status %d, id is UUID %v", pr.StatusCode, novamed.IsUUID(pr.PatientID))
	}
	dr, err := c.CreatePractitioner(ctx, practitioner(s.ClinicID()))
	if err != nil {
		t.Fatalf("CreatePractitioner: %v", err)
	}
	if dr.StatusCode != http.StatusOK || !novamed.IsUUID(dr.PractitionerID) {
		t.Errorf("practitioner: status %d, id is UUID %v", dr.StatusCode, novamed.IsUUID(dr.PractitionerID))
	}

	ps := s.Patients()
	if len(ps) != 1 || ps[0].ID != pr.PatientID || ps[0].Request != patient(s.ClinicID()) {
		t.Error("the stored patient is not the one sent, with the id answered")
	}
	ds := s.Practitioners()
	if len(ds) != 1 || ds[0].ID != dr.PractitionerID || ds[0].Request != practitioner(s.ClinicID()) {
		t.Error("the stored practitioner is not the one sent, with the id answered")
	}
	ps[0].ID = "changed"
	if s.Patients()[0].ID == "changed" {
		t.Error("Patients does not return a copy")
	}
	if s.Requests() != 2 || s.Duplicates() != 0 || len(s.Violations()) != 0 {
		t.Errorf("requests %d, duplicates %d, violations %d", s.Requests(), s.Duplicates(), len(s.Violations()))
	}
}

func TestUnauthorized(t *testing.T) {
	s := New(WithT(t))
	const documented = `{"success":false,"error":{"message":"Unauthorized. This can happen if the access token is invalid, expired or has been revoked"}}`

	h := goodHeaders(s)
	delete(h, "x-api-key")
	a := rawPost(t, http.MethodPost, s.URL+novamed.PatientPath, h, mustJSON(patient(s.ClinicID())))
	if a.status != http.StatusUnauthorized || strings.TrimSpace(a.raw) != documented {
		t.Errorf("missing key: status %d, body is the documented one: %v", a.status, strings.TrimSpace(a.raw) == documented)
	}

	c, err := novamed.NewClient(s.URL, novamed.StaticKey("not-the-key"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreatePatient(context.Background(), patient(s.ClinicID()))
	e := apiError(t, err)
	if e.StatusCode != 401 || e.Code != novamed.CodeUnauthorized || e.Message != MsgUnauthorized {
		t.Errorf("wrong key: %d %s, documented message %v", e.StatusCode, e.Code, e.Message == MsgUnauthorized)
	}
	if novamed.Classify(err) != novamed.ClassUnauthorized {
		t.Errorf("class %s", novamed.Classify(err))
	}
	if len(s.Patients()) != 0 {
		t.Error("an unauthorized request created a patient")
	}
}

func TestKeyRotation(t *testing.T) {
	s := New(WithT(t), WithAPIKey("old-key"))
	oldKey, err := novamed.NewClient(s.URL, novamed.StaticKey("old-key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := oldKey.CreatePatient(ctx, patient(s.ClinicID())); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	s.SetAPIKey("new-key")
	if s.APIKey() != "new-key" {
		t.Error("APIKey does not report the rotated key")
	}
	_, err = oldKey.CreatePatient(ctx, patient(s.ClinicID()))
	if e := apiError(t, err); e.StatusCode != http.StatusUnauthorized {
		t.Errorf("old key after rotation: status %d", e.StatusCode)
	}
	if _, err := client(t, s).CreatePatient(ctx, patient(s.ClinicID())); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
}

func TestHeadersAreRequired(t *testing.T) {
	s := New(WithT(t))
	body := mustJSON(patient(s.ClinicID()))
	for _, tc := range []struct {
		name   string
		change func(map[string]string)
		field  string
	}{
		{"text content type", func(h map[string]string) { h["Content-Type"] = "text/plain" }, "content-type"},
		{"no content type", func(h map[string]string) { delete(h, "Content-Type") }, "content-type"},
		{"no accept", func(h map[string]string) { delete(h, "Accept") }, "accept"},
		{"xml accept", func(h map[string]string) { h["Accept"] = "application/xml" }, "accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := goodHeaders(s)
			tc.change(h)
			a := rawPost(t, http.MethodPost, s.URL+novamed.PatientPath, h, body)
			if a.status != 400 || a.body.Error.Message != MsgValidation || a.body.Error.Details[tc.field] == "" {
				t.Errorf("status %d, message %q, details name %s: %v", a.status, a.body.Error.Message, tc.field, a.body.Error.Details[tc.field] != "")
			}
		})
	}
	h := goodHeaders(s)
	h["Content-Type"] = "application/json; charset=utf-8"
	h["Accept"] = "text/html, */*;q=0.1"
	if a := rawPost(t, http.MethodPost, s.URL+novamed.PatientPath, h, body); a.status != http.StatusCreated {
		t.Errorf("JSON with parameters refused: %d", a.status)
	}
	if len(s.Patients()) != 1 {
		t.Errorf("patients %d, want 1", len(s.Patients()))
	}
}

func TestClinics(t *testing.T) {
	s := New(WithT(t))
	c := client(t, s)
	ctx := context.Background()
	unknown := NewUUID()

	_, err := c.CreatePatient(ctx, patient(unknown))
	if e := apiError(t, err); e.StatusCode != 400 || e.Code != novamed.CodeClinicNotFound || e.Message != MsgClinicNotFound {
		t.Errorf("unknown clinic, patient: %d %s", e.StatusCode, e.Code)
	}
	_, err = c.CreatePractitioner(ctx, practitioner(unknown))
	if e := apiError(t, err); e.Code != novamed.CodeClinicNotFound {
		t.Errorf("unknown clinic, practitioner: %s", e.Code)
	}
	if novamed.Classify(err) != novamed.ClassPermanent {
		t.Errorf("class %s", novamed.Classify(err))
	}

	other := s.AddClinic()
	if !novamed.IsUUID(other) || other == s.ClinicID() {
		t.Fatal("AddClinic did not return a new UUID")
	}
	if _, err := c.CreatePatient(ctx, patient(other)); err != nil {
		t.Errorf("added clinic: %v", err)
	}
	if _, err := c.CreatePatient(ctx, patient(strings.ToUpper(s.ClinicID()))); err != nil {
		t.Errorf("upper-case clinic id: %v", err)
	}

	for _, path := range []string{novamed.PatientPath, novamed.PractitionerPath} {
		a := rawPost(t, http.MethodPost, s.URL+path, goodHeaders(s), `{"clinic_id":"clinic-1","assigned_clinic":"clinic-1"}`)
		if a.status != 400 || a.body.Error.Message != MsgClinicIDNotUUID {
			t.Errorf("%s with a non-UUID clinic: %d %q", path, a.status, a.body.Error.Message)
		}
	}
}

func TestValidationDetailsNameFields(t *testing.T) {
	s := New(WithT(t))
	for _, tc := range []struct {
		name   string
		path   string
		body   string
		fields []string
	}{
		{"missing fields", novamed.PatientPath, mustJSON(map[string]string{"clinic_id": s.ClinicID(), "first_name": "A"}), []string{"last_name", "date_of_birth", "email"}},
		{"number where a string belongs", novamed.PatientPath, `{"clinic_id":"` + s.ClinicID() + `","first_name":"A","last_name":"B","date_of_birth":"1990-01-01","email":1}`, []string{"email"}},
		{"malformed date and gender", novamed.PatientPath, `{"clinic_id":"` + s.ClinicID() + `","first_name":"A","last_name":"B","date_of_birth":"01/02/1990","email":"a@example.com","gender":"x"}`, []string{"date_of_birth", "gender"}},
		{"bad NPI", novamed.PractitionerPath, mustJSON(func() novamed.PractitionerRequest {
			p := practitioner(s.ClinicID())
			p.NPINumber = "1234567890"
			return p
		}()), []string{"npi_number"}},
		{"not an object", novamed.PatientPath, `[1,2]`, []string{"body"}},
		{"not JSON", novamed.PatientPath, `first_name=Ada`, []string{"body"}},
		{"duplicate key", novamed.PatientPath, `{"first_name":"A","first_name":"B"}`, []string{"body"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := rawPost(t, http.MethodPost, s.URL+tc.path, goodHeaders(s), tc.body)
			if a.status != 400 || a.body.Error.Message != MsgValidation || a.body.Success {
				t.Fatalf("status %d, message %q", a.status, a.body.Error.Message)
			}
			for _, f := range tc.fields {
				if a.body.Error.Details[f] == "" {
					t.Errorf("details do not name %s", f)
				}
			}
		})
	}
	if len(s.Patients())+len(s.Practitioners()) != 0 {
		t.Error("an invalid request created a record")
	}
}

func TestPathsMethodsAndSize(t *testing.T) {
	s := New(WithT(t))
	a := rawPost(t, http.MethodPost, s.URL+"/api/external/appointment", goodHeaders(s), `{}`)
	if a.status != 404 || a.body.Error.Message != MsgNotFound {
		t.Errorf("unknown path: %d %q", a.status, a.body.Error.Message)
	}
	a = rawPost(t, http.MethodGet, s.URL+novamed.PatientPath, goodHeaders(s), "")
	if a.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", a.status)
	}
	a = rawPost(t, http.MethodPost, s.URL+novamed.PatientPath, goodHeaders(s), `{"pad":"`+strings.Repeat("x", maxBodyBytes)+`"}`)
	if a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: %d", a.status)
	}
	if s.Requests() != 3 {
		t.Errorf("Requests() = %d, want 3 (rejected ones count)", s.Requests())
	}
}

func TestDuplicatesAreCreatedAndCounted(t *testing.T) {
	s := New(WithT(t))
	c := client(t, s)
	ctx := context.Background()

	p := patient(s.ClinicID())
	again := p
	again.Email = strings.ToUpper(p.Email)
	again.Phone = "+1-555-0100" // not part of the identity
	other := p
	other.DateOfBirth = "1981-01-01"
	for _, r := range []novamed.PatientRequest{p, again, other} {
		if _, err := c.CreatePatient(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	d := practitioner(s.ClinicID())
	renamed := d
	renamed.LastName = "Wilson"
	for _, r := range []novamed.PractitionerRequest{d, renamed} {
		if _, err := c.CreatePractitioner(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Patients()) != 3 || len(s.Practitioners()) != 2 {
		t.Errorf("patients %d practitioners %d: duplicates must still be created", len(s.Patients()), len(s.Practitioners()))
	}
	if s.Duplicates() != 2 {
		t.Errorf("Duplicates() = %d, want 2", s.Duplicates())
	}
}

func TestFailNext(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  time.Duration
		want   time.Duration
		code   string
		class  novamed.Class
	}{
		{503, 2 * time.Second, 2 * time.Second, novamed.CodeServerError, novamed.ClassRetryable},
		{429, 1500 * time.Millisecond, 2 * time.Second, novamed.CodeRateLimited, novamed.ClassRetryable},
		{500, 0, 0, novamed.CodeServerError, novamed.ClassUnconfirmed},
		{404, 0, 0, novamed.CodeNotFound, novamed.ClassPermanent},
		{401, 0, 0, novamed.CodeUnauthorized, novamed.ClassUnauthorized},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			s := New(WithT(t))
			c := client(t, s)
			s.FailNext(2, tc.status, tc.retry)
			for i := range 2 {
				_, err := c.CreatePatient(context.Background(), patient(s.ClinicID()))
				e := apiError(t, err)
				if e.StatusCode != tc.status || e.Code != tc.code || e.RetryAfter != tc.want || novamed.Classify(err) != tc.class {
					t.Errorf("call %d: %d %s retry %s class %s", i, e.StatusCode, e.Code, e.RetryAfter, novamed.Classify(err))
				}
			}
			if _, err := c.CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
				t.Errorf("third call: %v", err)
			}
			if len(s.Patients()) != 1 || s.Requests() != 3 {
				t.Errorf("patients %d requests %d", len(s.Patients()), s.Requests())
			}
		})
	}
}

// The fraction's failures carry the Retry-After they were given, rounded
// up to whole seconds, as a rate-limited NovaMed does.
func TestFailFractionCarriesRetryAfter(t *testing.T) {
	s := New(WithT(t))
	defer s.Close()
	s.FailFraction(1, 429, 1500*time.Millisecond)
	c := client(t, s)
	_, err := c.CreatePatient(context.Background(), patient(s.ClinicID()))
	e := apiError(t, err)
	if e.StatusCode != 429 || e.RetryAfter != 2*time.Second {
		t.Errorf("status %d retry %s, want 429 and 2s", e.StatusCode, e.RetryAfter)
	}
	s.FailFraction(0, 0, 0)
	if _, err := c.CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
		t.Errorf("after clearing: %v", err)
	}
}

func TestFailFractionIsSeeded(t *testing.T) {
	pattern := func(seed uint64, f float64) string {
		s := New(WithT(t), WithSeed(seed))
		defer s.Close()
		s.FailFraction(f, 502, 0)
		c := client(t, s)
		var b strings.Builder
		for range 40 {
			if _, err := c.CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
				if e := apiError(t, err); e.StatusCode != 502 {
					t.Fatalf("status %d", e.StatusCode)
				}
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b := pattern(7, 0.5), pattern(7, 0.5)
	if a != b {
		t.Errorf("same seed, different failures: %s vs %s", a, b)
	}
	if !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Errorf("a fraction of 0.5 gave %s", a)
	}
	if p := pattern(7, 1); strings.Contains(p, ".") {
		t.Errorf("fraction 1 let requests through: %s", p)
	}
	if p := pattern(7, 0); strings.Contains(p, "x") {
		t.Errorf("fraction 0 failed requests: %s", p)
	}
}

func TestDropAfterCreateLosesTheAnswer(t *testing.T) {
	s := New(WithT(t))
	c := client(t, s)
	s.DropAfterCreate(1)

	_, err := c.CreatePatient(context.Background(), patient(s.ClinicID()))
	var te *novamed.TransportError
	if !errors.As(err, &te) || !te.MaybeDelivered {
		t.Fatalf("want a maybe-delivered TransportError, got %v", err)
	}
	if novamed.Classify(err) != novamed.ClassRetryable {
		t.Errorf("class %s", novamed.Classify(err))
	}
	if len(s.Patients()) != 1 {
		t.Fatal("the record was not created before the connection dropped")
	}
	// The naive retry the bridge's ledger exists to prevent.
	if _, err := c.CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if s.Duplicates() != 1 {
		t.Errorf("Duplicates() = %d, want 1", s.Duplicates())
	}
}

func TestFailAfterCreateCreatesThenFails(t *testing.T) {
	for _, status := range []int{500, 502, 504} {
		s := New(WithT(t))
		c := client(t, s)
		s.FailAfterCreate(1, status)

		_, err := c.CreatePatient(context.Background(), patient(s.ClinicID()))
		if e := apiError(t, err); e.StatusCode != status {
			t.Errorf("%d: status %d", status, e.StatusCode)
		}
		if novamed.Classify(err) != novamed.ClassUnconfirmed {
			t.Errorf("%d: class %s", status, novamed.Classify(err))
		}
		if len(s.Patients()) != 1 {
			t.Fatalf("%d: %d patients, want the one created before the error", status, len(s.Patients()))
		}
		if _, err := c.CreatePatient(context.Background(), secondPatient(s)); err != nil {
			t.Fatalf("%d: the fault lasts one create: %v", status, err)
		}
	}
}

// secondPatient is a second, different patient.
func secondPatient(s *Server) novamed.PatientRequest {
	p := patient(s.ClinicID())
	p.Email = "second." + p.Email
	return p
}

func TestLatencyAndClientTimeout(t *testing.T) {
	s := New(WithT(t))
	c := client(t, s)
	s.SetLatency(time.Hour) // Close ends it
	// The deadline passes once the sandbox has created the record (or
	// after 10 s, and the check below fails), not after a fixed time a
	// loaded machine may need just to send the request.
	ctx := newDeadline()
	go func() {
		for end := time.Now().Add(10 * time.Second); len(s.Patients()) == 0 && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		ctx.pass()
	}()

	_, err := c.CreatePatient(ctx, patient(s.ClinicID()))
	var te *novamed.TransportError
	if !errors.As(err, &te) || !te.MaybeDelivered || !te.Timeout() {
		t.Fatalf("want a maybe-delivered timeout, got %v", err)
	}
	if len(s.Patients()) != 1 {
		t.Error("a slow NovaMed still creates the record")
	}
	s.SetLatency(0)
	if _, err := c.CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
		t.Errorf("after removing latency: %v", err)
	}
}

// deadline is a context whose deadline passes when the test says so: Done
// closes and Err is context.DeadlineExceeded, as when a real one passes.
type deadline struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newDeadline() *deadline {
	return &deadline{Context: context.Background(), done: make(chan struct{})}
}

func (d *deadline) pass()                 { d.once.Do(func() { close(d.done) }) }
func (d *deadline) Done() <-chan struct{} { return d.done }

func (d *deadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New(WithT(t))
	c := client(t, s)
	s.FailFraction(0.3, 503, 0)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := patient(s.ClinicID())
			p.Email = fmt.Sprintf("p%d@example.com", i)
			_, _ = c.CreatePatient(context.Background(), p)
			_ = s.Patients()
			s.SetLatency(0)
		}()
	}
	wg.Wait()
	if s.Requests() != 16 || s.Duplicates() != 0 {
		t.Errorf("requests %d duplicates %d", s.Requests(), s.Duplicates())
	}
}

// recordingTB captures what the sandbox reports as test failures.
type recordingTB struct {
	mu       sync.Mutex
	messages []string
	cleanups []func()
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func TestMarkDevelopmentCatchesCanaries(t *testing.T) {
	const (
		name  = "Ada Lovelace"
		email = "ada@example.com"
		dob   = "1980-12-10"
	)
	for _, tc := range []struct {
		name  string
		path  string
		body  string
		hit   Violation
		clean bool
	}{
		{"exact", novamed.PatientPath, `{"first_name":"Ada Lovelace"}`, Violation{novamed.PatientPath, "first_name", 0}, false},
		{"case", novamed.PatientPath, `{"last_name":"ADA LOVELACE"}`, Violation{novamed.PatientPath, "last_name", 0}, false},
		{"punctuation and spaces", novamed.PatientPath, `{"city":"ada-love.lace"}`, Violation{novamed.PatientPath, "city", 0}, false},
		{"zero-width joiner", novamed.PatientPath, `{"first_name":"Ada Love\u200dlace"}`, Violation{novamed.PatientPath, "first_name", 0}, false},
		{"full-width digits", novamed.PatientPath, `{"date_of_birth":"１９８０-１２-１０"}`, Violation{novamed.PatientPath, "date_of_birth", 2}, false},
		{"JSON escapes", novamed.PatientPath, `{"email":"ada\u0040example.com"}`, Violation{novamed.PatientPath, "email", 1}, false},
		{"unknown field", novamed.PatientPath, `{"notes":"seen with Ada Lovelace"}`, Violation{novamed.PatientPath, fieldUnknown, 0}, false},
		{"nested", novamed.PatientPath, `{"contacts":[{"email":"ADA@example.com"}]}`, Violation{novamed.PatientPath, fieldUnknown, 1}, false},
		{"in a key", novamed.PatientPath, `{"ada@example.com":"x"}`, Violation{novamed.PatientPath, fieldKey, 1}, false},
		{"not JSON", novamed.PatientPath, `first_name=Ada+Lovelace`, Violation{novamed.PatientPath, fieldBody, 0}, false},
		{"unknown path", "/api/external/ada", `{"first_name":"Ada Lovelace"}`, Violation{"(unknown path)", "first_name", 0}, false},
		{"clean", novamed.PatientPath, `{"first_name":"Grace","last_name":"Hopper","date_of_birth":"1980-01-01"}`, Violation{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{}
			s := New(WithT(rec))
			defer s.Close()
			s.MarkDevelopment(name, email)
			s.MarkDevelopment(dob, "   ")
			_ = rawPost(t, http.MethodPost, s.URL+tc.path, goodHeaders(s), tc.body)

			vs := s.Violations()
			if tc.clean {
				if len(vs) != 0 || len(rec.messages) != 0 {
					t.Errorf("clean body reported %d violations", len(vs))
				}
				return
			}
			found := false
			for _, v := range vs {
				found = found || v == tc.hit
			}
			if !found {
				t.Errorf("violation %+v not among %d reported", tc.hit, len(vs))
			}
			if len(rec.messages) != len(vs) {
				t.Errorf("%d violations but %d test failures", len(vs), len(rec.messages))
			}
			for _, m := range append(rec.messages, fmt.Sprint(vs)) {
				for _, c := range []string{"Ada", "Lovelace", "ada@", "1980", "１９８０"} {
					if strings.Contains(m, c) {
						t.Error("a violation message quotes the canary value")
					}
				}
			}
		})
	}
}

func TestDevelopmentOffByDefault(t *testing.T) {
	s := New(WithT(t))
	if _, err := client(t, s).CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
		t.Fatal(err)
	}
	if len(s.Violations()) != 0 {
		t.Error("violations without MarkDevelopment")
	}
}

func TestServedOnAChosenListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewUnstarted(WithT(t), WithClinicID("7c9e6679-7425-40de-944b-e07fc1f90ae7"), WithAPIKey("local-key"))
	s.Start(l)
	if s.URL != "http://"+l.Addr().String() {
		t.Errorf("URL %s does not name the listener", s.URL)
	}
	if s.ClinicID() != "7c9e6679-7425-40de-944b-e07fc1f90ae7" || s.APIKey() != "local-key" {
		t.Error("options not applied")
	}
	if _, err := client(t, s).CreatePatient(context.Background(), patient(s.ClinicID())); err != nil {
		t.Fatal(err)
	}

	// The bare handler, served by someone else.
	h := NewUnstarted(WithT(t))
	ts := httptest.NewServer(h.Handler())
	defer ts.Close()
	h.URL = ts.URL
	if _, err := client(t, h).CreatePractitioner(context.Background(), practitioner(h.ClinicID())); err != nil {
		t.Fatal(err)
	}
	if len(h.Practitioners()) != 1 {
		t.Error("the bare handler did not record the practitioner")
	}
}

func TestGeneratedIdentities(t *testing.T) {
	a, b := NewUnstarted(), NewUnstarted()
	if a.APIKey() == b.APIKey() || a.ClinicID() == b.ClinicID() {
		t.Error("two sandboxes share a key or a clinic")
	}
	for range 100 {
		if id := NewUUID(); !novamed.IsUUID(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatal("NewUUID is not a version 4 UUID")
		}
	}
}

func BenchmarkCreatePatient(b *testing.B) {
	s := New()
	defer s.Close()
	c, err := novamed.NewClient(s.URL, novamed.StaticKey(s.APIKey()))
	if err != nil {
		b.Fatal(err)
	}
	p := patient(s.ClinicID())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CreatePatient(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
