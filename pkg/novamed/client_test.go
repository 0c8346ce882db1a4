package novamed

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novamed/bridge/internal/nettest"
)

const (
	testKey    = "sk-test-SECRETMARKER-4242"
	testClinic = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	testID     = "0f8fad5b-d9cb-469f-a165-70867728950e"
)

func validPatient() PatientRequest {
	return PatientRequest{
		ClinicID:    testClinic,
		FirstName:   "Ada",
		LastName:    "Lovelace",
		DateOfBirth: "1980-12-10",
		Email:       "ada@example.com",
		Gender:      "female",
		Phone:       "+1-555-0199",
		State:       "NY",
		Zip:         "10001",
	}
}

func validPractitioner() PractitionerRequest {
	return PractitionerRequest{
		FirstName:      "Gregory",
		LastName:       "House",
		Email:          "house@example.com",
		NPINumber:      "1234567893",
		AssignedClinic: testClinic,
		LicenseState:   "NJ",
	}
}

// newTestClient returns a client of srv authenticating with testKey.
func newTestClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(url, StaticKey(testKey), opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// serve starts an httptest server answering with status, header and body.
func serve(t *testing.T, status int, header http.Header, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestCreatePatientSendsDocumentedRequest(t *testing.T) {
	var got struct {
		method, path, key, contentType, accept, ua string
		body                                       PatientRequest
		decodeErr                                  error
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.key = r.Header.Get("x-api-key")
		got.contentType, got.accept, got.ua = r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Header.Get("User-Agent")
		got.decodeErr = json.NewDecoder(r.Body).Decode(&got.body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"success":true,"data":{"patient_id":"`+testID+`"},"message":"Patient created successfully"}`)
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL, WithUserAgent("bridge-test/9"))
	resp, err := c.CreatePatient(context.Background(), validPatient())
	if err != nil {
		t.Fatalf("CreatePatient: %v", err)
	}
	if resp.PatientID != testID || resp.StatusCode != http.StatusCreated {
		t.Errorf("response: id matches %v, status %d", resp.PatientID == testID, resp.StatusCode)
	}
	if got.method != http.MethodPost || got.path != PatientPath {
		t.Errorf("request line: %s %s", got.method, got.path)
	}
	if got.key != testKey {
		t.Error("x-api-key header does not carry the key")
	}
	if got.contentType != "application/json" || got.accept != "application/json" || got.ua != "bridge-test/9" {
		t.Errorf("headers: Content-Type %q, Accept %q, User-Agent %q", got.contentType, got.accept, got.ua)
	}
	if got.decodeErr != nil || got.body != validPatient() {
		t.Error("request body does not round-trip to the patient sent")
	}
}

func TestCreatePractitionerAccepts200(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		_, _ = io.WriteString(w, `{"success":true,"data":{"practitioner_id":"`+testID+`"}}`)
	}))
	defer srv.Close()

	resp, err := newTestClient(t, srv.URL).CreatePractitioner(context.Background(), validPractitioner())
	if err != nil {
		t.Fatalf("CreatePractitioner: %v", err)
	}
	if resp.PractitionerID != testID || resp.StatusCode != http.StatusOK || path != PractitionerPath {
		t.Errorf("status %d, path %s, id matches %v", resp.StatusCode, path, resp.PractitionerID == testID)
	}
}

func TestCreateDispatchesByKind(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		field := map[string]string{PatientPath: "patient_id", PractitionerPath: "practitioner_id"}[r.URL.Path]
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"success":true,"data":{%q:%q}}`, field, r.URL.Path)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)

	p, pr := validPatient(), validPractitioner()
	for _, tc := range []struct {
		name   string
		record Record
		want   string
	}{
		{"patient", Record{Kind: KindPatient, Patient: &p}, PatientPath},
		{"practitioner", Record{Kind: KindPractitioner, Practitioner: &pr}, PractitionerPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.Create(context.Background(), tc.record)
			if err != nil || id != tc.want {
				t.Errorf("Create: id %q, err %v", id, err)
			}
		})
	}
}

func TestInvalidRecordsNeverReachNovaMed(t *testing.T) {
	srv, calls := serve(t, http.StatusCreated, nil, `{"success":true,"data":{"patient_id":"x"}}`)
	c := newTestClient(t, srv.URL)
	ctx := context.Background()

	badPatient := validPatient()
	badPatient.Email = "not-an-email"
	badPractitioner := validPractitioner()
	badPractitioner.NPINumber = "1234567890"

	_, errP := c.CreatePatient(ctx, badPatient)
	_, errPr := c.CreatePractitioner(ctx, badPractitioner)
	_, errR := c.Create(ctx, Record{Kind: KindPatient})
	_, errMixed := c.Create(ctx, Record{Kind: KindPatient, Practitioner: &badPractitioner})

	for name, err := range map[string]error{"patient": errP, "practitioner": errPr, "empty record": errR, "mixed record": errMixed} {
		var v *ValidationError
		if !errors.As(err, &v) {
			t.Errorf("%s: want *ValidationError, got %T", name, err)
			continue
		}
		if Classify(err) != ClassPermanent {
			t.Errorf("%s: class %s, want permanent", name, Classify(err))
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("NovaMed was called %d times for invalid records", n)
	}
}

const unauthorizedBody = `{"success":false,"error":{"message":"Unauthorized. This can happen if the access token is invalid, expired or has been revoked"}}`

func errorBodyJSON(msg string) string {
	b, _ := json.Marshal(map[string]any{"success": false, "error": map[string]any{"message": msg}})
	return string(b)
}

func TestErrorStatuses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code       string
		class      Class
		message    string
		retryAfter time.Duration
	}{
		{"400 bad clinic uuid", 400, nil, errorBodyJSON("Clinic ID must be a valid UUID."), CodeValidation, ClassPermanent, "Clinic ID must be a valid UUID.", 0},
		{"400 clinic not found", 400, nil, errorBodyJSON("Clinic not found"), CodeClinicNotFound, ClassPermanent, "Clinic not found", 0},
		{"400 clinic not found, other case", 400, nil, errorBodyJSON(" clinic NOT found. "), CodeClinicNotFound, ClassPermanent, " clinic NOT found. ", 0},
		{"400 validation error", 400, nil, `{"success":false,"error":{"message":"Validation error","details":{"email":"invalid"}}}`, CodeValidation, ClassPermanent, "Validation error", 0},
		{"400 undocumented message", 400, nil, errorBodyJSON("Something else"), CodeValidation, ClassPermanent, "Something else", 0},
		{"400 not JSON", 400, nil, "Bad Request", CodeValidation, ClassPermanent, "", 0},
		{"401 documented body", 401, nil, unauthorizedBody, CodeUnauthorized, ClassUnauthorized, "Unauthorized. This can happen if the access token is invalid, expired or has been revoked", 0},
		{"403", 403, nil, errorBodyJSON("Forbidden"), CodeForbidden, ClassUnauthorized, "Forbidden", 0},
		{"404", 404, nil, errorBodyJSON("Resource not found"), CodeNotFound, ClassPermanent, "Resource not found", 0},
		{"422", 422, nil, errorBodyJSON("Unprocessable"), CodeValidation, ClassPermanent, "Unprocessable", 0},
		{"429 no Retry-After", 429, nil, "", CodeRateLimited, ClassRetryable, "", 0},
		{"429 Retry-After seconds", 429, http.Header{"Retry-After": {"7"}}, errorBodyJSON("Too many requests"), CodeRateLimited, ClassRetryable, "Too many requests", 7 * time.Second},
		{"503 Retry-After seconds", 503, http.Header{"Retry-After": {"120"}}, "", CodeServerError, ClassRetryable, "", 2 * time.Minute},
		{"500", 500, nil, errorBodyJSON("Internal server error"), CodeServerError, ClassUnconfirmed, "Internal server error", 0},
		{"502 HTML from a proxy", 502, http.Header{"Content-Type": {"text/html"}}, "<html><body>Bad Gateway</body></html>", CodeServerError, ClassUnconfirmed, "", 0},
		{"503", 503, nil, "", CodeServerError, ClassRetryable, "", 0},
		{"599", 599, nil, "", CodeServerError, ClassRetryable, "", 0},
		{"418 unexpected", 418, nil, "teapot", CodeUnexpectedStatus, ClassPermanent, "", 0},
		{"409 unexpected", 409, nil, errorBodyJSON("Conflict"), CodeUnexpectedStatus, ClassPermanent, "Conflict", 0},
		{"204 is not a documented success", 204, nil, "", CodeUnexpectedStatus, ClassPermanent, "", 0},
		{"302 not followed", 302, http.Header{"Location": {"https://elsewhere.example/steal"}}, "", CodeUnexpectedStatus, ClassPermanent, "", 0},
		{"400 error is a string", 400, nil, `{"success":false,"error":"nope"}`, CodeValidation, ClassPermanent, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.status, tc.header, tc.body)
			_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("want *APIError, got %T", err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code {
				t.Errorf("status %d code %s, want %d %s", apiErr.StatusCode, apiErr.Code, tc.status, tc.code)
			}
			if apiErr.Message != tc.message {
				t.Error("Message not kept as NovaMed sent it")
			}
			if apiErr.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", apiErr.RetryAfter, tc.retryAfter)
			}
			if got := Classify(err); got != tc.class {
				t.Errorf("class %s, want %s", got, tc.class)
			}
			if want := "novamed: " + strconv.Itoa(tc.status) + " " + tc.code; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestValidationDetailsKept(t *testing.T) {
	srv, _ := serve(t, 400, nil, `{"success":false,"error":{"message":"Validation error","details":{"email":"invalid"}}}`)
	_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || string(apiErr.Details) != `{"email":"invalid"}` {
		t.Errorf("details not kept raw: %v", err)
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	srv, _ := serve(t, 503, http.Header{"Retry-After": {at}}, "")
	_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want *APIError, got %T", err)
	}
	// The date has second precision and the call takes a moment: allow slack.
	if apiErr.RetryAfter < 50*time.Minute || apiErr.RetryAfter > time.Hour {
		t.Errorf("RetryAfter %s, want about an hour", apiErr.RetryAfter)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"30", 30 * time.Second},
		{" 30 ", 30 * time.Second},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999999999", maxRetryAfter},
		{"86400", maxRetryAfter},
		{"Fri, 27 Nov 2026 10:02:00 GMT", 2 * time.Minute},
		{"Friday, 27-Nov-26 10:00:45 GMT", 45 * time.Second},
		{"Fri Nov 27 10:00:10 2026", 10 * time.Second},
		{"Fri, 27 Nov 2026 09:00:00 GMT", 0},
		{"Sat, 05 Dec 2026 10:00:00 GMT", maxRetryAfter},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSuccessWithoutUsableID(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"empty body", 201, ""},
		{"not JSON", 201, "<html>ok</html>"},
		{"no data", 201, `{"success":true}`},
		{"wrong id field", 201, `{"success":true,"data":{"practitioner_id":"abc"}}`},
		{"empty id", 200, `{"success":true,"data":{"patient_id":""}}`},
		{"numeric id", 200, `{"success":true,"data":{"patient_id":42}}`},
		{"id with spaces", 200, `{"success":true,"data":{"patient_id":"a b"}}`},
		{"id too long", 200, `{"success":true,"data":{"patient_id":"` + strings.Repeat("a", 200) + `"}}`},
		{"success false", 200, `{"success":false,"data":{"patient_id":"abc"}}`},
		{"success missing", 200, `{"data":{"patient_id":"abc"}}`},
		{"array", 200, `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.status, nil, tc.body)
			_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Code != CodeBadResponse || apiErr.StatusCode != tc.status {
				t.Fatalf("want bad_response APIError with status %d, got %v", tc.status, err)
			}
			// NovaMed probably created the record: never retry into a duplicate.
			if Classify(err) != ClassPermanent {
				t.Errorf("class %s, want permanent", Classify(err))
			}
		})
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	huge := `{"success":true,"data":{"patient_id":"` + testID + `"},"pad":"` + strings.Repeat("x", DefaultMaxResponseBytes) + `"}`

	t.Run("default limit", func(t *testing.T) {
		srv, _ := serve(t, 201, nil, huge)
		_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Code != CodeBadResponse || !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("want bad_response wrapping ErrResponseTooLarge, got %v", err)
		}
	})
	t.Run("custom limit", func(t *testing.T) {
		srv, _ := serve(t, 201, nil, `{"success":true,"data":{"patient_id":"`+testID+`"}}`)
		_, err := newTestClient(t, srv.URL, WithMaxResponseBytes(16)).CreatePatient(context.Background(), validPatient())
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("want ErrResponseTooLarge, got %v", err)
		}
	})
	t.Run("huge error body keeps the status", func(t *testing.T) {
		srv, _ := serve(t, 503, http.Header{"Retry-After": {"3"}}, strings.Repeat("y", 2*DefaultMaxResponseBytes))
		_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Code != CodeServerError || apiErr.RetryAfter != 3*time.Second {
			t.Fatalf("want server_error with Retry-After, got %v", err)
		}
	})
}

// hangingServer never answers: its handler returns when the client goes away
// or the test ends, so Close never waits on it.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv
}

func TestTimeoutAfterRequestSentMayHaveDelivered(t *testing.T) {
	srv := hangingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := newTestClient(t, srv.URL).CreatePatient(ctx, validPatient())
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("want *TransportError, got %T %v", err, err)
	}
	if !te.MaybeDelivered || !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("MaybeDelivered %v, Timeout %v, deadline %v", te.MaybeDelivered, te.Timeout(), errors.Is(err, context.DeadlineExceeded))
	}
	if Classify(err) != ClassRetryable {
		t.Errorf("class %s, want retryable", Classify(err))
	}
}

func TestClientTimeoutOption(t *testing.T) {
	srv := hangingServer(t)
	_, err := newTestClient(t, srv.URL, WithTimeout(50*time.Millisecond)).CreatePatient(context.Background(), validPatient())
	var te *TransportError
	if !errors.As(err, &te) || !te.Timeout() {
		t.Fatalf("want a timeout TransportError, got %v", err)
	}
}

func TestCancelledBeforeSendIsNotDelivered(t *testing.T) {
	srv, calls := serve(t, 201, nil, `{"success":true,"data":{"patient_id":"x"}}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newTestClient(t, srv.URL).CreatePatient(ctx, validPatient())
	var te *TransportError
	if !errors.As(err, &te) || te.MaybeDelivered || !errors.Is(err, context.Canceled) {
		t.Fatalf("want an undelivered TransportError wrapping context.Canceled, got %v", err)
	}
	if Classify(err) != ClassRetryable || calls.Load() != 0 {
		t.Errorf("class %s, calls %d", Classify(err), calls.Load())
	}
}

func TestConnectionRefusedIsNotDelivered(t *testing.T) {
	_, err := newTestClient(t, nettest.RefusedURL).CreatePatient(context.Background(), validPatient())
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("want *TransportError, got %T %v", err, err)
	}
	if te.MaybeDelivered {
		t.Error("a refused connection cannot have delivered anything")
	}
	if Classify(err) != ClassRetryable {
		t.Errorf("class %s, want retryable", Classify(err))
	}
}

// rawServer accepts one connection at a time and hands it to handle.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				handle(conn)
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// readRequest reads one HTTP/1.1 request from conn and returns its raw header
// block, after consuming the body.
func readRequest(conn net.Conn) (string, error) {
	br := bufio.NewReader(conn)
	var head bytes.Buffer
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		head.WriteString(line)
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
		if line == "\r\n" {
			break
		}
	}
	_, err := io.CopyN(io.Discard, br, int64(length))
	return head.String(), err
}

func TestAPIKeyHeaderIsLowerCaseOnTheWire(t *testing.T) {
	heads := make(chan string, 1)
	url := rawServer(t, func(conn net.Conn) {
		head, err := readRequest(conn)
		if err != nil {
			return
		}
		heads <- head
		body := `{"success":true,"data":{"patient_id":"` + testID + `"}}`
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	})
	if _, err := newTestClient(t, url).CreatePatient(context.Background(), validPatient()); err != nil {
		t.Fatalf("CreatePatient: %v", err)
	}
	head := <-heads
	if !strings.Contains(head, "\r\nx-api-key: "+testKey+"\r\n") {
		t.Error("the key header is not sent as lower-case x-api-key")
	}
	if strings.Contains(head, "X-Api-Key") {
		t.Error("the key header was canonicalised")
	}
	for _, h := range []string{"\r\nContent-Type: application/json\r\n", "\r\nAccept: application/json\r\n"} {
		if !strings.Contains(head, h) {
			t.Errorf("missing header %q", strings.TrimSpace(h))
		}
	}
}

func TestResetAfterRequestMayHaveDelivered(t *testing.T) {
	url := rawServer(t, func(conn net.Conn) {
		if _, err := readRequest(conn); err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
	})
	_, err := newTestClient(t, url).CreatePatient(context.Background(), validPatient())
	var te *TransportError
	if !errors.As(err, &te) || !te.MaybeDelivered {
		t.Fatalf("want a maybe-delivered TransportError, got %v", err)
	}
	if Classify(err) != ClassRetryable {
		t.Errorf("class %s, want retryable", Classify(err))
	}
}

func TestKeyFuncIsCalledPerRequest(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("x-api-key"))
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"success":true,"data":{"patient_id":"`+testID+`"}}`)
	}))
	defer srv.Close()
	var n atomic.Int32
	c, err := NewClient(srv.URL, func(context.Context) (string, error) {
		return "key-" + strconv.Itoa(int(n.Add(1))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.CreatePatient(context.Background(), validPatient()); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || seen[0] != "key-1" || seen[1] != "key-2" {
		t.Error("the key supplier is not consulted for every request")
	}
}

func TestKeySupplierFailures(t *testing.T) {
	srv, calls := serve(t, 201, nil, `{"success":true,"data":{"patient_id":"x"}}`)
	for _, tc := range []struct {
		name string
		key  KeyFunc
	}{
		{"supplier error", func(context.Context) (string, error) { return "", errors.New("ssm: throttled") }},
		{"empty key", StaticKey("")},
		{"newline in key", StaticKey(testKey + "\r\nX-Evil: 1")},
		{"padded key", StaticKey(" " + testKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(srv.URL, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreatePatient(context.Background(), validPatient())
			if !errors.Is(err, ErrAPIKey) {
				t.Fatalf("want ErrAPIKey, got %v", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Error("the error quotes the key")
			}
			if Classify(err) != ClassRetryable {
				t.Errorf("class %s, want retryable", Classify(err))
			}
		})
	}
	if calls.Load() != 0 {
		t.Error("NovaMed was called without a usable key")
	}
	if _, err := NewClient(srv.URL, nil); !errors.Is(err, ErrAPIKey) {
		t.Errorf("NewClient with a nil KeyFunc: %v", err)
	}
}

// TestKeyNeverInErrors renders every kind of failure every way a caller might
// log it and looks for the key.
func TestKeyNeverInErrors(t *testing.T) {
	var errs []error
	for _, status := range []int{200, 201, 400, 401, 403, 404, 429, 500, 503, 418} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := r.Header.Get("x-api-key")
			w.Header().Set("Retry-After", k)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"success":false,"error":{"message":"bad key `+k+`","details":{"key":"`+k+`"}}}`)
		}))
		_, err := newTestClient(t, srv.URL).CreatePatient(context.Background(), validPatient())
		srv.Close()
		errs = append(errs, err)
	}
	// Transport failures.
	slow := hangingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := newTestClient(t, slow.URL).CreatePatient(ctx, validPatient())
	cancel()
	errs = append(errs, err)
	_, err = newTestClient(t, nettest.RefusedURL).CreatePatient(context.Background(), validPatient()) // refused
	errs = append(errs, err)

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		logger.Error("call failed", "err", err)
		for _, s := range []string{err.Error(), fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err)} {
			if strings.Contains(s, testKey) {
				t.Errorf("case %d (%T): the key appears in the rendered error", i, err)
			}
			if strings.Contains(s, "bad key") {
				t.Errorf("case %d (%T): NovaMed's message appears in the rendered error", i, err)
			}
		}
	}
	if strings.Contains(logs.String(), testKey) || strings.Contains(logs.String(), "bad key") {
		t.Error("the key or NovaMed's message appears in slog output")
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer thief.Close()
	srv, _ := serve(t, http.StatusTemporaryRedirect, http.Header{"Location": {thief.URL + PatientPath}}, "")

	for name, c := range map[string]*Client{
		"default":         newTestClient(t, srv.URL),
		"own http client": newTestClient(t, srv.URL, WithHTTPClient(&http.Client{})),
	} {
		_, err := c.CreatePatient(context.Background(), validPatient())
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTemporaryRedirect || apiErr.Code != CodeUnexpectedStatus {
			t.Errorf("%s: want unexpected_status 307, got %v", name, err)
		}
	}
	if stolen.Load() != 0 {
		t.Error("a redirect was followed with the key")
	}
}

func TestDefaultTransportRequiresTLS12(t *testing.T) {
	c := newTestClient(t, "https://"+ProductionHost)
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("default transport is %T", c.hc.Transport)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Fatal("default transport does not require TLS 1.2")
	}
	if tr.TLSHandshakeTimeout <= 0 || tr.DialContext == nil {
		t.Error("default transport has no handshake or dial bound")
	}

	for _, tc := range []struct {
		name   string
		maxVer uint16
		ok     bool
	}{
		{"TLS 1.1 server refused", tls.VersionTLS11, false},
		{"TLS 1.2 server accepted", tls.VersionTLS12, true},
		{"TLS 1.3 server accepted", tls.VersionTLS13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(201)
				_, _ = io.WriteString(w, `{"success":true,"data":{"patient_id":"`+testID+`"}}`)
			}))
			srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tc.maxVer}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
			srv.StartTLS()
			defer srv.Close()

			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			tr := NewTransport()
			tr.TLSClientConfig.RootCAs = pool
			c := newTestClient(t, srv.URL, WithHTTPClient(&http.Client{Transport: tr}))
			_, err := c.CreatePatient(context.Background(), validPatient())
			if tc.ok && err != nil {
				t.Fatalf("CreatePatient: %v", err)
			}
			if !tc.ok {
				var te *TransportError
				if !errors.As(err, &te) || te.MaybeDelivered {
					t.Fatalf("want an undelivered TransportError, got %v", err)
				}
			}
		})
	}
}

func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"https://feapi.novamed.care", true},
		{"https://novamed-feapidev.stackmod.info/", true},
		{"https://example.com:8443/prefix", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.3.4.5", true},
		{"http://localhost:9000", true},
		{"http://LOCALHOST", true},
		{"http://[::1]:8080", true},
		{"http://example.com", false},
		{"http://10.0.0.1", false},
		{"http://localhost.example.com", false},
		{"http://127.0.0.1.nip.io", false},
		{"http://[::2]", false},
		{"ftp://127.0.0.1", false},
		{"ftp://feapi.novamed.care", false},
		{"feapi.novamed.care", false},
		{"", false},
		{"https://", false},
		{"https:feapi.novamed.care", false},
		{"https://user:pass@feapi.novamed.care", false},
		{"https://feapi.novamed.care?key=1", false},
		{"https://feapi.novamed.care?", false},
		{"https://feapi.novamed.care#frag", false},
		{"https://feapi.novamed.care:port", false},
		{"://bad", false},
	} {
		u, err := CheckBaseURL(tc.raw)
		if (err == nil) != tc.ok {
			t.Errorf("CheckBaseURL(%q): err %v, want ok %v", tc.raw, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBaseURL) {
				t.Errorf("CheckBaseURL(%q): error does not wrap ErrBaseURL", tc.raw)
			}
			if tc.raw != "" && strings.Contains(err.Error(), tc.raw) {
				t.Errorf("CheckBaseURL(%q): error quotes the URL", tc.raw)
			}
			if _, cerr := NewClient(tc.raw, StaticKey(testKey)); cerr == nil {
				t.Errorf("NewClient(%q) accepted a refused URL", tc.raw)
			}
			continue
		}
		if u == nil {
			t.Errorf("CheckBaseURL(%q): nil URL", tc.raw)
		}
	}
}

func TestBasePathPrefixIsKept(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"success":true,"data":{"patient_id":"`+testID+`"}}`)
	}))
	defer srv.Close()
	for _, base := range []string{srv.URL + "/v1", srv.URL + "/v1/"} {
		if _, err := newTestClient(t, base).CreatePatient(context.Background(), validPatient()); err != nil {
			t.Fatal(err)
		}
		if path != "/v1"+PatientPath {
			t.Errorf("base %q: path %q", strings.TrimPrefix(base, srv.URL), path)
		}
	}
}

func TestDefaultBaseURL(t *testing.T) {
	for stage, want := range map[string]string{
		"prod":       ProductionURL,
		"dev":        DevelopmentURL,
		"":           DevelopmentURL,
		"PROD":       DevelopmentURL,
		"prod ":      DevelopmentURL,
		" prod":      DevelopmentURL,
		"production": DevelopmentURL,
		"staging":    DevelopmentURL,
	} {
		if got := DefaultBaseURL(stage); got != want {
			t.Errorf("DefaultBaseURL(%q) = %s, want %s", stage, got, want)
		}
	}
}

func TestAPIErrorRendering(t *testing.T) {
	e := &APIError{StatusCode: 400, Code: CodeValidation, Message: "email ada@example.com is taken", Details: json.RawMessage(`{"email":"ada@example.com"}`), RetryAfter: time.Second}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "err", e)
	for _, s := range []string{e.Error(), fmt.Sprintf("%v %+v %#v %s", e, e, e, e), logs.String()} {
		if strings.Contains(s, "ada@example.com") {
			t.Errorf("APIError rendering leaks NovaMed's message: %q", strings.ReplaceAll(s, "ada@example.com", "<value>"))
		}
	}
	if !strings.Contains(logs.String(), `"code":"validation_error"`) || !strings.Contains(logs.String(), `"status":400`) {
		t.Error("slog output lacks status and code")
	}
}

func TestBodyBreakingOffAfterStatus(t *testing.T) {
	for _, tc := range []struct {
		status string
		code   string
		class  Class
	}{
		{"201 Created", CodeBadResponse, ClassPermanent},
		{"503 Service Unavailable", CodeServerError, ClassRetryable},
	} {
		t.Run(tc.status, func(t *testing.T) {
			url := rawServer(t, func(conn net.Conn) {
				if _, err := readRequest(conn); err != nil {
					return
				}
				// Promise 100 bytes, send 10, hang up.
				_, _ = fmt.Fprintf(conn, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"success\"", tc.status)
			})
			_, err := newTestClient(t, url).CreatePatient(context.Background(), validPatient())
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Code != tc.code {
				t.Fatalf("want APIError %s, got %v", tc.code, err)
			}
			if Classify(err) != tc.class {
				t.Errorf("class %s, want %s", Classify(err), tc.class)
			}
		})
	}
}

// TestCheckStageBaseURL: the API key of a stage only goes to that stage's
// NovaMed (issue 14, item 4).
func TestCheckStageBaseURL(t *testing.T) {
	for _, tc := range []struct {
		stage, raw string
		want       error // nil: accepted
	}{
		{"prod", "https://feapi.novamed.care", nil},
		{"prod", "https://feapi.novamed.care:443/", nil},
		{"prod", "https://novamed-feapidev.stackmod.info", ErrProdHost},
		{"prod", "https://example.com", ErrProdHost},
		{"prod", "https://feapi.novamed.care.example.com", ErrProdHost},
		{"prod", "https://feapi.novamed.care.", ErrProdHost},
		{"prod", "https://FEAPI.novamed.care", ErrProdHost},
		{"prod", "https://feapi.novamed.care:8443", ErrProdHost},
		{"prod", "http://127.0.0.1:8080", ErrProdHost},
		{"prod", "https://localhost:8443", ErrProdHost},
		{"dev", "https://novamed-feapidev.stackmod.info", nil},
		{"dev", "https://novamed-feapidev.stackmod.info/", nil},
		{"dev", "http://127.0.0.1:8080", nil},
		{"dev", "http://localhost:9000", nil},
		{"dev", "https://[::1]:8443", nil},
		{"dev", "https://feapi.novamed.care", ErrDevHost},
		{"dev", "https://example.com", ErrDevHost},
		{"dev", "https://novamed-feapidev.stackmod.info.example.com", ErrDevHost},
		{"dev", "https://novamed-feapidev.stackmod.info:8443", ErrDevHost},
		{"", "https://feapi.novamed.care", ErrDevHost},
		{"PROD", "https://feapi.novamed.care", ErrDevHost},
		{"dev", "http://novamed-feapidev.stackmod.info", ErrBaseURL},
	} {
		_, err := CheckStageBaseURL(tc.stage, tc.raw)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%q + %q: refused: %v", tc.stage, tc.raw, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrBaseURL) {
			t.Errorf("%q + %q: err %v, want %v", tc.stage, tc.raw, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), tc.raw) {
			t.Errorf("%q + %q: the error quotes the URL", tc.stage, tc.raw)
		}
	}
}
