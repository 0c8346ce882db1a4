package ehrtest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/novamed/bridge/pkg/ehr/ehrtest"
)

const clientID = "bridge-client"

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

type fixture struct {
	sb  *ehrtest.Server
	clk *clock
	key jose.JSONWebKey // private
	log *bytes.Buffer
}

func newFixture(t *testing.T, opts ...ehrtest.Option) *fixture {
	t.Helper()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logBuf}, nil))
	sb := ehrtest.New(append([]ehrtest.Option{ehrtest.WithT(t), ehrtest.WithClock(clk.Now), ehrtest.WithLogger(logger)}, opts...)...)
	key := jose.JSONWebKey{Key: ec, KeyID: "k1", Algorithm: "ES384"}
	sb.RegisterClient(clientID, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}, "system/Patient.read", "system/Encounter.rs")
	sb.MustPut(`{"resourceType":"Patient","id":"pt-5d1e9b","name":[{"family":"Vantablack-Oyelaran"}]}`)
	sb.MustPut(`{"resourceType":"Encounter","id":"enc-1","subject":{"reference":"Patient/pt-5d1e9b"}}`)
	sb.MustPut(`{"resourceType":"Practitioner","id":"dr-1"}`)
	return &fixture{sb: sb, clk: clk, key: key, log: &logBuf}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// claims returns valid assertion claims for now.
func (f *fixture) claims(jti string) jwt.Claims {
	now := f.clk.Now()
	return jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{f.sb.TokenURL()},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), ID: jti,
	}
}

func sign(t *testing.T, key jose.JSONWebKey, alg jose.SignatureAlgorithm, c jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// post posts a token request and returns the status and decoded body.
func (f *fixture) post(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(f.sb.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func form(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

func TestTokenIssuedForAValidAssertion(t *testing.T) {
	f := newFixture(t)
	status, body := f.post(t, form(sign(t, f.key, jose.ES384, f.claims("jti-1")), "system/Patient.read"))
	if status != http.StatusOK || body["token_type"] != "bearer" || body["expires_in"] != float64(300) ||
		!strings.HasPrefix(body["access_token"].(string), "ehrsbx_") {
		t.Fatalf("%d %v", status, body)
	}
	if f.sb.TokensIssued() != 1 || f.sb.TokenRequests() != 1 {
		t.Errorf("issued %d requests %d", f.sb.TokensIssued(), f.sb.TokenRequests())
	}
}

func TestTokenRefusals(t *testing.T) {
	otherEC, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	otherKey := jose.JSONWebKey{Key: otherEC, KeyID: "k1"}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name   string
		form   func(t *testing.T, f *fixture) url.Values
		oauth  string
		reason string
	}{
		{"wrong aud", func(t *testing.T, f *fixture) url.Values {
			c := f.claims("j")
			c.Audience = jwt.Audience{f.sb.URL + "/other/token"}
			return form(sign(t, f.key, jose.ES384, c), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedAudience},
		{"expired assertion", func(t *testing.T, f *fixture) url.Values {
			c := f.claims("j")
			c.Expiry = jwt.NewNumericDate(f.clk.Now().Add(-time.Second))
			return form(sign(t, f.key, jose.ES384, c), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedExpired},
		{"no exp", func(t *testing.T, f *fixture) url.Values {
			c := f.claims("j")
			c.Expiry = nil
			return form(sign(t, f.key, jose.ES384, c), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedExpired},
		{"exp an hour ahead", func(t *testing.T, f *fixture) url.Values {
			c := f.claims("j")
			c.Expiry = jwt.NewNumericDate(f.clk.Now().Add(time.Hour))
			return form(sign(t, f.key, jose.ES384, c), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedExpTooFar},
		{"no jti", func(t *testing.T, f *fixture) url.Values {
			return form(sign(t, f.key, jose.ES384, f.claims("")), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedNoJTI},
		{"sub differs", func(t *testing.T, f *fixture) url.Values {
			c := f.claims("j")
			c.Subject = "someone"
			return form(sign(t, f.key, jose.ES384, c), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedSubject},
		{"unknown client", func(t *testing.T, f *fixture) url.Values {
			c := f.claims("j")
			c.Issuer, c.Subject = "stranger", "stranger"
			return form(sign(t, f.key, jose.ES384, c), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedUnknownClient},
		{"wrong key, same kid", func(t *testing.T, f *fixture) url.Values {
			return form(sign(t, otherKey, jose.ES384, f.claims("j")), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedSignature},
		{"unknown kid", func(t *testing.T, f *fixture) url.Values {
			k := f.key
			k.KeyID = "k2"
			return form(sign(t, k, jose.ES384, f.claims("j")), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedUnknownKey},
		{"RSA key for an EC registration", func(t *testing.T, f *fixture) url.Values {
			return form(sign(t, jose.JSONWebKey{Key: rsaKey, KeyID: "k1"}, jose.RS384, f.claims("j")), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedSignature},
		{"HS256", func(t *testing.T, f *fixture) url.Values {
			return form(sign(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k1"}, jose.HS256, f.claims("j")), "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedMalformed},
		{"garbage assertion", func(t *testing.T, f *fixture) url.Values {
			return form("not.a.jwt", "system/Patient.read")
		}, "invalid_client", ehrtest.RefusedMalformed},
		{"scope not granted", func(t *testing.T, f *fixture) url.Values {
			return form(sign(t, f.key, jose.ES384, f.claims("j")), "system/Patient.read system/Observation.read")
		}, "invalid_scope", ehrtest.RefusedScope},
		{"no scope", func(t *testing.T, f *fixture) url.Values {
			return form(sign(t, f.key, jose.ES384, f.claims("j")), "")
		}, "invalid_scope", ehrtest.RefusedScope},
		{"grant type", func(t *testing.T, f *fixture) url.Values {
			v := form(sign(t, f.key, jose.ES384, f.claims("j")), "system/Patient.read")
			v.Set("grant_type", "password")
			return v
		}, "unsupported_grant_type", ehrtest.RefusedGrantType},
		{"assertion type", func(t *testing.T, f *fixture) url.Values {
			v := form(sign(t, f.key, jose.ES384, f.claims("j")), "system/Patient.read")
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			return v
		}, "invalid_client", ehrtest.RefusedAssertionType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			status, body := f.post(t, tt.form(t, f))
			if status != http.StatusBadRequest || body["error"] != tt.oauth {
				t.Errorf("%d %v, want 400 %s", status, body, tt.oauth)
			}
			if got := f.sb.Refusals(); got[tt.reason] != 1 || len(got) != 1 {
				t.Errorf("refusals %v, want one %s", got, tt.reason)
			}
			if f.sb.TokensIssued() != 0 {
				t.Error("a token was issued")
			}
		})
	}
}

func TestReusedJTIRefused(t *testing.T) {
	f := newFixture(t)
	assertion := sign(t, f.key, jose.ES384, f.claims("jti-once"))
	if status, _ := f.post(t, form(assertion, "system/Patient.read")); status != http.StatusOK {
		t.Fatalf("first use: %d", status)
	}
	status, body := f.post(t, form(assertion, "system/Patient.read"))
	if status != http.StatusBadRequest || body["error"] != "invalid_client" || f.sb.Refusals()[ehrtest.RefusedReusedJTI] != 1 {
		t.Errorf("replay: %d %v %v", status, body, f.sb.Refusals())
	}
	// A new assertion with the same jti is a replay too, while it lives.
	status, _ = f.post(t, form(sign(t, f.key, jose.ES384, f.claims("jti-once")), "system/Patient.read"))
	if status != http.StatusBadRequest || f.sb.TokensIssued() != 1 {
		t.Errorf("same jti: %d, issued %d", status, f.sb.TokensIssued())
	}
}

// token gets a token with scope.
func (f *fixture) token(t *testing.T, scope string) string {
	t.Helper()
	status, body := f.post(t, form(sign(t, f.key, jose.ES384, f.claims(f.clk.Now().String()+scope)), scope))
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

func (f *fixture) read(t *testing.T, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.sb.BaseURL()+"/"+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirect following
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func TestFHIRReads(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, "system/Patient.read system/Encounter.rs")

	status, h, body := f.read(t, "Patient/pt-5d1e9b", tok)
	if status != 200 || h.Get("Content-Type") != "application/fhir+json" || !bytes.Contains(body, []byte("Vantablack-Oyelaran")) {
		t.Fatalf("read: %d %s", status, h.Get("Content-Type"))
	}
	if status, _, _ := f.read(t, "Encounter/enc-1", tok); status != 200 {
		t.Errorf("Encounter with .rs: %d", status)
	}
	if status, _, _ := f.read(t, "Practitioner/dr-1", tok); status != http.StatusForbidden {
		t.Errorf("Practitioner without scope: %d, want 403", status)
	}
	if status, _, _ := f.read(t, "Patient/nobody", tok); status != http.StatusNotFound {
		t.Errorf("unknown: %d", status)
	}
	f.sb.Delete("Patient", "pt-5d1e9b")
	if status, _, _ := f.read(t, "Patient/pt-5d1e9b", tok); status != http.StatusGone {
		t.Errorf("deleted: %d", status)
	}
	if status, h, _ := f.read(t, "Encounter/enc-1", ""); status != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d", status)
	}
	if status, _, _ := f.read(t, "Encounter/enc-1", tok+"x"); status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", status)
	}
	if f.sb.Fetches("Encounter") != 3 || f.sb.Fetches("Patient") != 3 || f.sb.Fetches("Practitioner") != 1 || f.sb.TotalFetches() != 7 {
		t.Errorf("counters %d %d %d", f.sb.Fetches("Encounter"), f.sb.Fetches("Patient"), f.sb.Fetches("Practitioner"))
	}
	if strings.Contains(f.log.String(), "ehrsbx_") || strings.Contains(f.log.String(), "pt-5d1e9b") ||
		strings.Contains(f.log.String(), "Vantablack") || !strings.Contains(f.log.String(), "route=/fhir/r4/Patient/{id}") {
		t.Errorf("log holds a token, id or body, or no route: %s", f.log.String())
	}
}

func TestTokenExpiry(t *testing.T) {
	f := newFixture(t, ehrtest.WithTokenLifetime(time.Minute))
	tok := f.token(t, "system/Patient.read")
	f.clk.Advance(59 * time.Second)
	if status, _, _ := f.read(t, "Patient/pt-5d1e9b", tok); status != 200 {
		t.Fatalf("before expiry: %d", status)
	}
	f.clk.Advance(time.Second)
	if status, _, _ := f.read(t, "Patient/pt-5d1e9b", tok); status != http.StatusUnauthorized {
		t.Errorf("at expiry: %d, want 401", status)
	}
	tok2 := f.token(t, "system/Patient.read")
	f.sb.ExpireTokens()
	if status, _, _ := f.read(t, "Patient/pt-5d1e9b", tok2); status != http.StatusUnauthorized {
		t.Errorf("after ExpireTokens: %d, want 401", status)
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, "system/Patient.read")
	f.sb.FailNext(2, http.StatusTooManyRequests, 1500*time.Millisecond)
	for range 2 {
		if status, h, _ := f.read(t, "Patient/pt-5d1e9b", tok); status != 429 || h.Get("Retry-After") != "2" {
			t.Errorf("fault: %d %q", status, h.Get("Retry-After"))
		}
	}
	if status, _, _ := f.read(t, "Patient/pt-5d1e9b", tok); status != 200 {
		t.Errorf("after the faults: %d", status)
	}
	f.sb.RedirectNext(1, "http://169.254.169.254/")
	if status, h, _ := f.read(t, "Patient/pt-5d1e9b", tok); status != http.StatusFound || h.Get("Location") != "http://169.254.169.254/" {
		t.Errorf("redirect: %d", status)
	}
	f.sb.FailTokenNext(1, http.StatusServiceUnavailable, 3*time.Second)
	status, _ := f.post(t, form(sign(t, f.key, jose.ES384, f.claims("jx")), "system/Patient.read"))
	if status != http.StatusServiceUnavailable || f.sb.TokenRequests() != 2 || f.sb.TokensIssued() != 1 {
		t.Errorf("token fault: %d, requests %d issued %d", status, f.sb.TokenRequests(), f.sb.TokensIssued())
	}
}

func TestPutNeedsTypeAndID(t *testing.T) {
	f := newFixture(t)
	for _, r := range []string{`{}`, `{"resourceType":"Patient"}`, `{"id":"x"}`, `not json`} {
		if err := f.sb.Put([]byte(r)); err == nil {
			t.Errorf("Put(%s) accepted", r)
		}
	}
}
