package smart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/novamed/bridge/pkg/ehr/ehrtest"
	"github.com/novamed/bridge/pkg/smart"
	"github.com/novamed/bridge/pkg/source"
)

// clock is a fake clock shared by the client and the sandbox.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

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

const (
	clientID = "bridge-client-7f3a"
	scope    = "system/Patient.read system/Encounter.read"
)

// keyJSON makes a key and returns it and its private JWK as JSON.
func keyJSON(t *testing.T, alg, kid string) (jose.JSONWebKey, []byte) {
	t.Helper()
	k, err := smart.GenerateKey(alg, kid)
	if err != nil {
		t.Fatal(err)
	}
	data, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return k, data
}

// fhirServer parses a source definition holding def.
func fhirServer(t *testing.T, def source.FHIRServerDefinition) *source.FHIRServer {
	t.Helper()
	data, err := json.Marshal(source.Definition{
		Format:     source.FormatFHIRR4,
		Auth:       source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}},
		FHIRServer: &def,
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.Parse("athena", data)
	if err != nil {
		t.Fatal(err)
	}
	return src.FHIRServer
}

type env struct {
	sb    *ehrtest.Server
	clk   *clock
	key   jose.JSONWebKey
	priv  []byte
	fs    *source.FHIRServer
	token *smart.Client
}

func setup(t *testing.T, alg string, opts ...smart.Option) *env {
	t.Helper()
	clk := newClock()
	sb := ehrtest.New(ehrtest.WithT(t), ehrtest.WithClock(clk.Now))
	key, priv := keyJSON(t, alg, "")
	sb.RegisterClient(clientID, smart.PublicJWKS(key), strings.Fields(scope)...)
	fs := fhirServer(t, sb.Definition(clientID, scope, priv))
	c, err := smart.New(fs, append([]smart.Option{smart.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sb: sb, clk: clk, key: key, priv: priv, fs: fs, token: c}
}

func TestTokenSignsAndSandboxVerifies(t *testing.T) {
	for _, alg := range []string{source.AlgES384, source.AlgRS384} {
		t.Run(alg, func(t *testing.T) {
			e := setup(t, alg)
			tok, err := e.token.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok == "" || e.sb.TokensIssued() != 1 || len(e.sb.Refusals()) != 0 {
				t.Fatalf("issued %d refusals %v", e.sb.TokensIssued(), e.sb.Refusals())
			}
			again, err := e.token.Token(context.Background())
			if err != nil || again != tok {
				t.Fatalf("second Token = %v, want the cached token", err)
			}
			if n := e.sb.TokenRequests(); n != 1 {
				t.Errorf("token requests = %d, want 1 (cached)", n)
			}
		})
	}
}

func TestTokenReplacedBeforeExpiry(t *testing.T) {
	e := setup(t, source.AlgES384) // sandbox lifetime 5m, margin 60s
	ctx := context.Background()
	first, err := e.token.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(3*time.Minute + 59*time.Second)
	if tok, _ := e.token.Token(ctx); tok != first || e.sb.TokenRequests() != 1 {
		t.Fatal("token replaced before its margin")
	}
	e.clk.Advance(time.Second) // 4m: within the last minute
	second, err := e.token.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || e.sb.TokensIssued() != 2 {
		t.Errorf("token not replaced near expiry (issued %d)", e.sb.TokensIssued())
	}
}

func TestInvalidate(t *testing.T) {
	e := setup(t, source.AlgES384)
	ctx := context.Background()
	first, _ := e.token.Token(ctx)
	e.token.Invalidate(first)
	second, err := e.token.Token(ctx)
	if err != nil || second == first {
		t.Fatalf("after Invalidate: err %v, same token %v", err, second == first)
	}
	e.token.Invalidate(first) // stale: second stays
	if third, _ := e.token.Token(ctx); third != second || e.sb.TokenRequests() != 2 {
		t.Errorf("a stale Invalidate dropped the current token (requests %d)", e.sb.TokenRequests())
	}
	e.token.Invalidate("")
	if fourth, _ := e.token.Token(ctx); fourth != second {
		t.Error("Invalidate(\"\") dropped the token")
	}
}

func TestEveryAssertionIsFresh(t *testing.T) {
	// Each request carries a new jti: the sandbox would refuse a reused one.
	e := setup(t, source.AlgRS384)
	for i := range 4 {
		tok, err := e.token.Token(context.Background())
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		e.token.Invalidate(tok)
	}
	if e.sb.TokensIssued() != 4 || e.sb.Refusals()[ehrtest.RefusedReusedJTI] != 0 {
		t.Errorf("issued %d, refusals %v", e.sb.TokensIssued(), e.sb.Refusals())
	}
}

func TestTokenRefusals(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(t *testing.T, e *env) *smart.Client
		class   smart.Class
		code    string
		refusal string
	}{
		{"unknown client", func(t *testing.T, e *env) *smart.Client {
			e.sb.RegisterClient("someone-else", smart.PublicJWKS(e.key), "system/Patient.read")
			e.sb.RegisterClient(clientID, jose.JSONWebKeySet{})
			return e.token
		}, smart.Unauthorized, smart.CodeInvalidClient, ehrtest.RefusedUnknownKey},
		{"client not registered", func(t *testing.T, e *env) *smart.Client {
			fs := fhirServer(t, e.sb.Definition("not-registered", scope, e.priv))
			c, _ := smart.New(fs, smart.WithClock(e.clk.Now))
			return c
		}, smart.Unauthorized, smart.CodeInvalidClient, ehrtest.RefusedUnknownClient},
		{"wrong key, same kid", func(t *testing.T, e *env) *smart.Client {
			other, _ := keyJSON(t, source.AlgES384, e.key.KeyID)
			e.sb.RegisterClient(clientID, smart.PublicJWKS(other), strings.Fields(scope)...)
			return e.token
		}, smart.Unauthorized, smart.CodeInvalidClient, ehrtest.RefusedSignature},
		{"scope not granted", func(t *testing.T, e *env) *smart.Client {
			e.sb.RegisterClient(clientID, smart.PublicJWKS(e.key), "system/Patient.read")
			return e.token
		}, smart.Unauthorized, smart.CodeInvalidScope, ehrtest.RefusedScope},
		{"client clock 10 minutes behind: assertion expired", func(t *testing.T, e *env) *smart.Client {
			c, _ := smart.New(e.fs, smart.WithClock(func() time.Time { return e.clk.Now().Add(-10 * time.Minute) }))
			return c
		}, smart.Unauthorized, smart.CodeInvalidClient, ehrtest.RefusedExpired},
		{"client clock 2 minutes ahead: exp too far", func(t *testing.T, e *env) *smart.Client {
			c, _ := smart.New(e.fs, smart.WithClock(func() time.Time { return e.clk.Now().Add(2 * time.Minute) }))
			return c
		}, smart.Unauthorized, smart.CodeInvalidClient, ehrtest.RefusedExpTooFar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, source.AlgES384)
			c := tt.arrange(t, e)
			_, err := c.Token(context.Background())
			var se *smart.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *smart.Error", err)
			}
			if se.Class != tt.class || se.Code != tt.code || se.StatusCode != http.StatusBadRequest {
				t.Errorf("got %v", err)
			}
			if got := e.sb.Refusals(); got[tt.refusal] != 1 || len(got) != 1 {
				t.Errorf("refusals = %v, want one %s", got, tt.refusal)
			}
			assertNoSecrets(t, err, e.priv)
		})
	}
}

func TestTokenEndpointFaults(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter time.Duration
		class      smart.Class
		code       string
	}{
		{http.StatusTooManyRequests, 7 * time.Second, smart.Retryable, smart.CodeRateLimited},
		{http.StatusServiceUnavailable, 30 * time.Second, smart.Retryable, smart.CodeServerError},
		{http.StatusInternalServerError, 0, smart.Retryable, smart.CodeServerError},
		{http.StatusBadRequest, 0, smart.Unauthorized, smart.CodeInvalidClient},
		{http.StatusUnauthorized, 0, smart.Unauthorized, smart.CodeInvalidClient},
		{http.StatusForbidden, 0, smart.Unauthorized, smart.CodeForbidden},
		{http.StatusNotFound, 0, smart.Permanent, smart.CodeUnexpectedStatus},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			e := setup(t, source.AlgES384)
			e.sb.FailTokenNext(1, tt.status, tt.retryAfter)
			_, err := e.token.Token(context.Background())
			var se *smart.Error
			if !errors.As(err, &se) || se.Class != tt.class || se.Code != tt.code || se.StatusCode != tt.status ||
				se.RetryAfter != tt.retryAfter || smart.ClassOf(err) != tt.class {
				t.Fatalf("got %#v", err)
			}
			// The failure is not cached: the next call asks again and wins.
			if _, err := e.token.Token(context.Background()); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			if e.sb.TokenRequests() != 2 {
				t.Errorf("token requests = %d, want 2", e.sb.TokenRequests())
			}
		})
	}
}

func TestTokenTimeout(t *testing.T) {
	e := setup(t, source.AlgES384, smart.WithTimeout(100*time.Millisecond))
	release := e.sb.HoldTokens()
	defer release()
	_, err := e.token.Token(context.Background())
	var se *smart.Error
	if !errors.As(err, &se) || se.Class != smart.Retryable || se.Code != smart.CodeTimeout {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap context.DeadlineExceeded", err)
	}
}

func TestCallerCancelDoesNotFailTheFetch(t *testing.T) {
	e := setup(t, source.AlgES384)
	release := e.sb.HoldTokens()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := e.token.Token(ctx); errc <- err }()
	waitFor(t, func() bool { return e.sb.TokenRequests() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || smart.ClassOf(err) != smart.Retryable || !strings.Contains(err.Error(), smart.CodeCanceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	release()
	if _, err := e.token.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.sb.TokenRequests() != 1 {
		t.Errorf("token requests = %d, want 1: the cancelled caller's request went on and was cached", e.sb.TokenRequests())
	}
}

// waitFor polls cond (a state change, not a duration) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// assertNoSecrets fails if err, printed any way or logged, holds the
// private key's d or a distinctive secret.
func assertNoSecrets(t *testing.T, err error, privJWK []byte, secrets ...string) {
	t.Helper()
	var m map[string]string
	_ = json.Unmarshal(privJWK, &m)
	secrets = append(secrets, m["d"], m["p"], m["q"])
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v %s", err, err, err, err)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "err", err)
	for _, s := range secrets {
		if s != "" && strings.Contains(buf.String(), s) {
			t.Fatalf("error output holds a secret")
		}
	}
}

// fakeTokenServer is a small fake for answers the sandbox never gives.
func fakeTokenServer(t *testing.T, h http.HandlerFunc) *smart.Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	_, priv := keyJSON(t, source.AlgES384, "k1")
	fs := fhirServer(t, source.FHIRServerDefinition{
		BaseURL: ts.URL + "/fhir", TokenURL: ts.URL + "/token", ClientID: clientID, Scope: scope, PrivateKey: priv,
	})
	c, err := smart.New(fs, smart.WithMaxResponseBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenBadAnswers(t *testing.T) {
	const secretToken = "tok-SECRET-9c41f0e2b7d85a36"
	const secretDesc = "DESCRIPTION-5e8d2a91c4b7f036"
	tests := []struct {
		name string
		h    http.HandlerFunc
		code string
	}{
		{"not json", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>" + secretToken)) }, smart.CodeBadResponse},
		{"not bearer", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"mac","expires_in":300}`, secretToken)
		}, smart.CodeBadResponse},
		{"no token", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"token_type":"bearer","expires_in":300}`))
		}, smart.CodeBadResponse},
		{"token with a newline", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer"}`, secretToken+"\nX-Evil: 1")
		}, smart.CodeBadResponse},
		{"negative expires_in", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":-5}`, secretToken)
		}, smart.CodeBadResponse},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","pad":%q}`, secretToken, strings.Repeat("x", 5000))
		}, smart.CodeTooLarge},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		}, smart.CodeUnexpectedStatus},
		{"error description", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, secretDesc)
		}, smart.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeTokenServer(t, tt.h)
			_, err := c.Token(context.Background())
			var se *smart.Error
			if !errors.As(err, &se) || se.Code != tt.code || se.Class != smart.Permanent {
				t.Fatalf("got %v", err)
			}
			assertNoSecrets(t, err, nil, secretToken, secretDesc)
		})
	}
}

func TestTokenRequestShape(t *testing.T) {
	var form url.Values
	var ctype string
	c := fakeTokenServer(t, func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		_ = r.ParseForm()
		form = r.PostForm
		_, _ = w.Write([]byte(`{"access_token":"abc.def","token_type":"bearer","expires_in":300}`))
	})
	tok, err := c.Token(context.Background())
	if err != nil || tok != "abc.def" {
		t.Fatalf("Token = %v", err)
	}
	if ctype != "application/x-www-form-urlencoded" || form.Get("grant_type") != "client_credentials" ||
		form.Get("scope") != scope || form.Get("client_assertion_type") != smart.AssertionType ||
		strings.Count(form.Get("client_assertion"), ".") != 2 || form.Has("client_secret") {
		t.Errorf("request %s %v", ctype, form)
	}
}

func TestAllowedURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://ehr.example.org/token":   true,
		"http://127.0.0.1:9/token":        true,
		"http://localhost/token":          true,
		"http://[::1]:8/token":            true,
		"http://ehr.example.org/token":    false,
		"http://169.254.169.254/":         false,
		"ftp://ehr.example.org/":          false,
		"https://u:p@ehr.example.org/":    false,
		"https:///no-host":                false,
		"http://127.0.0.1.example.org/x/": false,
	} {
		u, _ := url.Parse(raw)
		if got := smart.AllowedURL(u); got != want {
			t.Errorf("AllowedURL(%s) = %v", raw, got)
		}
	}
}

func TestNewRefusesNil(t *testing.T) {
	if _, err := smart.New(nil); !errors.Is(err, smart.ErrConfig) {
		t.Errorf("New(nil) = %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"12":                            12 * time.Second,
		"99999999999999999999":          12 * time.Hour,
		"Tue, 01 Dec 2026 06:01:00 GMT": time.Minute,
		"Tue, 01 Dec 2026 05:00:00 GMT": 0,
		"soon":                          0,
	} {
		if got := smart.ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
