package ehr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/ehr/ehrtest"
	"github.com/novamed/bridge/pkg/smart"
	"github.com/novamed/bridge/pkg/source"
)

// Distinctive values that must never reach an error or a log.
const (
	patientID   = "pid-8c3e1f77a2d9"
	patientName = "Zzyzx-Quintessa-48213"
	scope       = "system/Patient.read system/Practitioner.read system/Encounter.read system/AuditEvent.read system/Appointment.read"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	sb   *ehrtest.Server
	clk  *clock
	priv []byte
	fs   *source.FHIRServer
	f    *ehr.Fetcher
	// tokens is f's token client, to share with another Fetcher.
	tokens *smart.Client
	// other is a second loopback server standing in for anything the
	// bridge must never call; hits counts its requests.
	other *httptest.Server
	hits  *atomic.Int64
}

func setup(t *testing.T, granted string, opts ...ehr.Option) *env {
	t.Helper()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	sb := ehrtest.New(ehrtest.WithT(t), ehrtest.WithClock(clk.Now))
	key, err := smart.GenerateKey(source.AlgES384, "")
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := key.MarshalJSON()
	sb.RegisterClient("bridge", smart.PublicJWKS(key), strings.Fields(scope)...)
	def := sb.Definition("bridge", granted, priv)
	data, _ := json.Marshal(source.Definition{
		Format: source.FormatFHIRR4, FHIRServer: &def,
		Auth: source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}},
	})
	src, err := source.Parse("athena", data)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := smart.New(src.FHIRServer, smart.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ehr.New(src.FHIRServer, append([]ehr.Option{ehr.WithTokenSource(tokens)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	hits := &atomic.Int64{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprintf(w, `{"resourceType":"Patient","id":%q}`, patientID)
	}))
	t.Cleanup(other.Close)

	sb.MustPut(`{"resourceType":"Patient","id":"` + patientID + `","name":[{"family":"` + patientName + `"}]}`)
	sb.MustPut(`{"resourceType":"Practitioner","id":"dr-1","name":[{"family":"Osler"}]}`)
	sb.MustPut(`{"resourceType":"Encounter","id":"enc-1","status":"finished","subject":{"reference":"Patient/` + patientID + `"}}`)
	return &env{sb: sb, clk: clk, priv: priv, fs: src.FHIRServer, f: f, tokens: tokens, other: other, hits: hits}
}

func TestFetchPatient(t *testing.T) {
	e := setup(t, scope)
	res, err := e.f.Fetch(context.Background(), "Patient/"+patientID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != ehr.TypePatient || res.ID != patientID || !bytes.Contains(res.Body, []byte(patientName)) || len(res.Via) != 0 {
		t.Fatalf("got %v", res)
	}
	if e.sb.Fetches("Patient") != 1 || e.sb.TokenRequests() != 1 {
		t.Errorf("fetches %d tokens %d", e.sb.Fetches("Patient"), e.sb.TokenRequests())
	}
	// The token is reused.
	if _, err := e.f.Fetch(context.Background(), e.sb.BaseURL()+"/Practitioner/dr-1"); err != nil {
		t.Fatal(err)
	}
	if e.sb.TokenRequests() != 1 {
		t.Errorf("token requests = %d, want 1", e.sb.TokenRequests())
	}
}

func TestFetchFollowsToThePerson(t *testing.T) {
	tests := []struct {
		name      string
		resources []string
		ref       string
		wantType  string
		wantID    string
		via       []string
	}{
		{"audit event to patient", []string{
			`{"resourceType":"AuditEvent","id":"ae-1","entity":[{"what":{"reference":"Organization/o1"}},{"what":{"reference":"Patient/` + patientID + `"}}]}`,
		}, "AuditEvent/ae-1", "Patient", patientID, []string{"AuditEvent"}},
		{"audit event to encounter to patient", []string{
			`{"resourceType":"AuditEvent","id":"ae-2","entity":[{"what":{"reference":"Encounter/enc-1"}}]}`,
		}, "AuditEvent/ae-2", "Patient", patientID, []string{"AuditEvent", "Encounter"}},
		{"audit event to practitioner", []string{
			`{"resourceType":"AuditEvent","id":"ae-3","entity":[{"what":{"reference":"Practitioner/dr-1"}}]}`,
		}, "AuditEvent/ae-3", "Practitioner", "dr-1", []string{"AuditEvent"}},
		{"audit event prefers the patient", []string{
			`{"resourceType":"AuditEvent","id":"ae-4","entity":[{"what":{"reference":"Practitioner/dr-1"}},{"what":{"reference":"Patient/` + patientID + `"}}]}`,
		}, "AuditEvent/ae-4", "Patient", patientID, []string{"AuditEvent"}},
		{"encounter", nil, "Encounter/enc-1", "Patient", patientID, []string{"Encounter"}},
		{"appointment's patient actor", []string{
			`{"resourceType":"Appointment","id":"ap-1","participant":[{"actor":{"reference":"Practitioner/dr-1"}},{"actor":{"reference":"Location/l1"}},{"actor":{"reference":"Patient/` + patientID + `"}}]}`,
		}, "Appointment/ap-1", "Patient", patientID, []string{"Appointment"}},
		{"absolute reference on the base", []string{
			`{"resourceType":"Encounter","id":"enc-abs","subject":{"reference":"{{base}}/Patient/` + patientID + `/_history/3"}}`,
		}, "Encounter/enc-abs", "Patient", patientID, []string{"Encounter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, scope)
			for _, r := range tt.resources {
				e.sb.MustPut(strings.ReplaceAll(r, "{{base}}", e.sb.BaseURL()))
			}
			res, err := e.f.Fetch(context.Background(), tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != tt.wantType || res.ID != tt.wantID {
				t.Fatalf("got %s", res)
			}
			var via []string
			for _, v := range res.Via {
				via = append(via, v.Type)
			}
			if fmt.Sprint(via) != fmt.Sprint(tt.via) {
				t.Errorf("via %v, want %v", via, tt.via)
			}
		})
	}
}

func TestFetchWithoutAPerson(t *testing.T) {
	e := setup(t, scope)
	e.sb.MustPut(`{"resourceType":"Encounter","id":"enc-g","subject":{"reference":"Group/g1"}}`)
	e.sb.MustPut(`{"resourceType":"AuditEvent","id":"ae-x","entity":[{"what":{"reference":"DocumentReference/d1"}}]}`)
	e.sb.MustPut(`{"resourceType":"AuditEvent","id":"ae-loop","entity":[{"what":{"reference":"Appointment/ap-loop"}}]}`)
	e.sb.MustPut(`{"resourceType":"Appointment","id":"ap-loop","participant":[{"actor":{"reference":"Practitioner/dr-1"}}]}`)
	for _, ref := range []string{"Encounter/enc-g", "AuditEvent/ae-x", "AuditEvent/ae-loop"} {
		_, err := e.f.Fetch(context.Background(), ref)
		var fe *ehr.Error
		if !errors.As(err, &fe) || fe.Code != ehr.CodeNoPatient || fe.Class != ehr.Permanent {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

func TestFetchTokenExpiresMidRun(t *testing.T) {
	e := setup(t, scope)
	ctx := context.Background()
	if _, err := e.f.Fetch(ctx, "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	// The server expires the token early: one 401, a new token, success.
	e.sb.ExpireTokens()
	if _, err := e.f.Fetch(ctx, "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	if e.sb.TokensIssued() != 2 || e.sb.Fetches("Patient") != 3 {
		t.Errorf("tokens %d reads %d, want 2 and 3", e.sb.TokensIssued(), e.sb.Fetches("Patient"))
	}
	// The lifetime runs out: the client replaces the token before using it.
	e.clk.Advance(ehrtest.DefaultTokenLifetime)
	if _, err := e.f.Fetch(ctx, "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	if e.sb.TokensIssued() != 3 || e.sb.Fetches("Patient") != 4 {
		t.Errorf("tokens %d reads %d, want 3 and 4", e.sb.TokensIssued(), e.sb.Fetches("Patient"))
	}
}

func TestFetch401OnceThenSuccess(t *testing.T) {
	e := setup(t, scope)
	e.sb.FailNext(1, http.StatusUnauthorized, 0)
	res, err := e.f.Fetch(context.Background(), "Patient/"+patientID)
	if err != nil || res.ID != patientID {
		t.Fatalf("Fetch: %v", err)
	}
	if e.sb.TokensIssued() != 2 || e.sb.Fetches("Patient") != 2 {
		t.Errorf("tokens %d reads %d", e.sb.TokensIssued(), e.sb.Fetches("Patient"))
	}
}

func TestFetchOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		arrange    func(e *env)
		ref        string
		class      ehr.Class
		code       string
		status     int
		retryAfter time.Duration
		reads      int
	}{
		{"404", func(e *env) {}, "Patient/nobody", ehr.NotFound, ehr.CodeNotFound, 404, 0, 1},
		{"410", func(e *env) { e.sb.Delete("Patient", patientID) }, "Patient/" + patientID, ehr.NotFound, ehr.CodeGone, 410, 0, 1},
		{"401 twice", func(e *env) { e.sb.FailNext(2, 401, 0) }, "Patient/" + patientID, ehr.Unauthorized, ehr.CodeUnauthorized, 401, 0, 2},
		{"403 twice", func(e *env) { e.sb.FailNext(2, 403, 0) }, "Patient/" + patientID, ehr.Unauthorized, ehr.CodeForbidden, 403, 0, 2},
		{"429", func(e *env) { e.sb.FailNext(1, 429, 9*time.Second) }, "Patient/" + patientID, ehr.Retryable, ehr.CodeRateLimited, 429, 9 * time.Second, 1},
		{"503", func(e *env) { e.sb.FailNext(1, 503, 2*time.Second) }, "Patient/" + patientID, ehr.Retryable, ehr.CodeServerError, 503, 2 * time.Second, 1},
		{"500", func(e *env) { e.sb.FailNext(1, 500, 0) }, "Patient/" + patientID, ehr.Retryable, ehr.CodeServerError, 500, 0, 1},
		{"400", func(e *env) { e.sb.FailNext(1, 400, 0) }, "Patient/" + patientID, ehr.Permanent, ehr.CodeUnexpectedStatus, 400, 0, 1},
		{"token endpoint 503", func(e *env) { e.sb.FailTokenNext(1, 503, 4*time.Second) }, "Patient/" + patientID,
			ehr.Retryable, ehr.CodeTokenPrefix + smart.CodeServerError, 503, 4 * time.Second, 0},
		{"token endpoint refuses the client", func(e *env) { e.sb.FailTokenNext(1, 400, 0) }, "Patient/" + patientID,
			ehr.Unauthorized, ehr.CodeTokenPrefix + smart.CodeInvalidClient, 400, 0, 0},
		{"not-found encounter's patient", func(e *env) {
			e.sb.MustPut(`{"resourceType":"Encounter","id":"enc-2","subject":{"reference":"Patient/nobody"}}`)
		}, "Encounter/enc-2", ehr.NotFound, ehr.CodeNotFound, 404, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, scope)
			tt.arrange(e)
			_, err := e.f.Fetch(context.Background(), tt.ref)
			fe := asError(t, err)
			if fe.Class != tt.class || fe.Code != tt.code || fe.StatusCode != tt.status || fe.RetryAfter != tt.retryAfter ||
				ehr.ClassOf(err) != tt.class {
				t.Errorf("got %#v", fe)
			}
			if n := e.sb.TotalFetches(); n != tt.reads {
				t.Errorf("reads = %d, want %d", n, tt.reads)
			}
			assertClean(t, err, e.priv)
		})
	}
}

func TestFetchScopeNotCovering(t *testing.T) {
	// Granted Patient only: reading an Encounter is refused by the server
	// with a fresh token too.
	e := setup(t, "system/Patient.read")
	_, err := e.f.Fetch(context.Background(), "Encounter/enc-1")
	if fe := asError(t, err); fe.Class != ehr.Unauthorized || fe.Code != ehr.CodeForbidden || fe.Type != "Encounter" {
		t.Fatalf("got %v", err)
	}
	if e.sb.TokensIssued() != 2 {
		t.Errorf("tokens issued = %d, want 2 (one retry with a fresh token)", e.sb.TokensIssued())
	}
}

func TestFetchTimeout(t *testing.T) {
	e := setup(t, scope)
	// The token is fetched first (default timeout), so the short timeout
	// below meets only the read, which the sandbox holds for an hour.
	if _, err := e.f.Fetch(context.Background(), "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	short, err := ehr.New(e.fs, ehr.WithTokenSource(e.tokens), ehr.WithTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e.sb.SetLatency(time.Hour)
	_, err = short.Fetch(context.Background(), "Patient/"+patientID)
	if fe := asError(t, err); fe.Class != ehr.Retryable || fe.Code != ehr.CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if e.sb.TokenRequests() != 1 {
		t.Errorf("token requests = %d, want 1", e.sb.TokenRequests())
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close() // nothing listens there now
	e := setup(t, scope)
	f, err := ehr.New(fhirServerAt(t, base, e.priv), ehr.WithTokenSource(staticToken("tok-0f9e8d7c6b5a")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), "Patient/"+patientID)
	if fe := asError(t, err); fe.Class != ehr.Retryable || fe.Code != ehr.CodeTransport {
		t.Fatalf("got %v", err)
	}
	assertClean(t, err, e.priv, "tok-0f9e8d7c6b5a") // the URL, which holds the id, is not in the error
}

func TestFetchTooLarge(t *testing.T) {
	e := setup(t, scope, ehr.WithMaxResponseBytes(512))
	e.sb.MustPut(`{"resourceType":"Patient","id":"big","name":[{"family":"` + patientName + strings.Repeat("x", 600) + `"}]}`)
	_, err := e.f.Fetch(context.Background(), "Patient/big")
	if fe := asError(t, err); fe.Code != ehr.CodeTooLarge || fe.Class != ehr.Permanent {
		t.Fatalf("got %v", err)
	}
	assertClean(t, err, e.priv)
}

func TestFetchBadAnswers(t *testing.T) {
	tests := []struct {
		name  string
		ctype string
		body  string
		code  string
	}{
		{"other resource", "application/fhir+json", `{"resourceType":"Patient","id":"someone-else","name":"` + patientName + `"}`, ehr.CodeMismatch},
		{"other type", "application/fhir+json", `{"resourceType":"Practitioner","id":"` + patientID + `"}`, ehr.CodeMismatch},
		{"html", "text/html", `<html>` + patientName, ehr.CodeBadResponse},
		{"not json", "application/fhir+json", `{"resourceType":"Patient",` + patientName, ehr.CodeBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			e := setup(t, scope)
			f, err := ehr.New(fhirServerAt(t, ts.URL, e.priv), ehr.WithTokenSource(staticToken("tok-d41d8cd98f00b204")))
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Fetch(context.Background(), "Patient/"+patientID)
			if fe := asError(t, err); fe.Code != tt.code || fe.Class != ehr.Permanent {
				t.Fatalf("got %v", err)
			}
			assertClean(t, err, e.priv, "tok-d41d8cd98f00b204")
		})
	}
}

func TestFetchRequestShape(t *testing.T) {
	var got http.Header
	var path string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, path = r.Header.Clone(), r.URL.Path
		w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
		fmt.Fprintf(w, `{"resourceType":"Patient","id":%q}`, patientID)
	}))
	defer ts.Close()
	e := setup(t, scope)
	f, err := ehr.New(fhirServerAt(t, ts.URL+"/r4/", e.priv), ehr.WithTokenSource(staticToken("tok-abc")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	if path != "/r4/Patient/"+patientID || got.Get("Accept") != "application/fhir+json" || got.Get("Authorization") != "Bearer tok-abc" {
		t.Errorf("GET %s %v", path, got)
	}
}

func TestResourceNeverPrintsBody(t *testing.T) {
	e := setup(t, scope)
	res, err := e.f.Fetch(context.Background(), "Patient/"+patientID)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&buf, verb+"\n", res)
		fmt.Fprintf(&buf, verb+"\n", *res)
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("fetched", "resource", res, "ref", ehr.Reference{Type: "Patient", ID: patientID})
	if strings.Contains(buf.String(), patientName) || strings.Contains(buf.String(), patientID) {
		t.Fatal("printed or logged output holds the resource or its id")
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := ehr.New(nil); !errors.Is(err, ehr.ErrConfig) {
		t.Errorf("New(nil) = %v", err)
	}
}

// staticToken is a TokenSource for the fakes.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate(string)                       {}

func fhirServerAt(t *testing.T, base string, priv []byte) *source.FHIRServer {
	t.Helper()
	data, _ := json.Marshal(source.Definition{
		Format: source.FormatFHIRR4,
		Auth:   source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}},
		FHIRServer: &source.FHIRServerDefinition{
			BaseURL: base, TokenURL: base + "/token", ClientID: "bridge", Scope: scope, PrivateKey: priv,
		},
	})
	src, err := source.Parse("fake", data)
	if err != nil {
		t.Fatal(err)
	}
	return src.FHIRServer
}

func asError(t *testing.T, err error) *ehr.Error {
	t.Helper()
	var fe *ehr.Error
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want *ehr.Error", err)
	}
	return fe
}

// assertClean fails if err, printed or logged, holds the patient's id or
// name, a sandbox token, the private key or one of extra.
func assertClean(t *testing.T, err error, priv []byte, extra ...string) {
	t.Helper()
	var m map[string]string
	_ = json.Unmarshal(priv, &m)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v", err, err, err)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "err", err)
	for _, s := range append([]string{patientID, patientName, "ehrsbx_", m["d"]}, extra...) {
		if s != "" && strings.Contains(buf.String(), s) {
			t.Fatalf("error output holds a secret or PHI: %s", buf.String()[:min(buf.Len(), 20)])
		}
	}
}
