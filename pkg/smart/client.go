package smart

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/novamed/bridge/pkg/outbound"
	"github.com/novamed/bridge/pkg/source"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds one token request.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxResponseBytes bounds a token answer (a few hundred bytes,
	// some kilobytes with a JWT access token).
	DefaultMaxResponseBytes = 64 << 10
	// DefaultExpiryMargin: a token is replaced this long before it expires,
	// so it does not run out between Token and the request that uses it.
	DefaultExpiryMargin = 60 * time.Second
	// DefaultLifetime is assumed when an answer has no expires_in.
	DefaultLifetime = 5 * time.Minute
	// AssertionLifetime is how far ahead an assertion's exp is.
	AssertionLifetime = 4 * time.Minute
	// AssertionType is the client_assertion_type of SMART Backend Services.
	AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// UserAgent identifies the bridge.
	UserAgent = "novamed-bridge/1"
)

// maxTokenLen bounds an access token (JWT access tokens run to a few KB).
const maxTokenLen = 16 << 10

// ErrConfig reports a Client that cannot be built: no server, a token URL
// that is not https (or loopback http).
var ErrConfig = errors.New("smart: invalid configuration")

// Client gets and caches access tokens for one fhir_server. It is safe for
// concurrent use.
type Client struct {
	fs       *source.FHIRServer
	signer   jose.Signer
	hc       *http.Client
	timeout  time.Duration
	maxBody  int64
	margin   time.Duration
	now      func() time.Time
	tokenURL string

	mu       sync.Mutex
	token    string
	expires  time.Time // when to stop using token (expiry minus margin)
	inflight *call
}

// call is one token request that concurrent callers share.
type call struct {
	done    chan struct{}
	waiters int // callers waiting on it besides the first (tests read it)
	token   string
	err     error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through a copy of hc. Redirects are never
// followed whatever hc says.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			cp := *hc
			c.hc = &cp
		}
	}
}

// WithTimeout bounds each token request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithMaxResponseBytes bounds a token answer (default
// DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// WithExpiryMargin replaces a cached token this long before it expires
// (default DefaultExpiryMargin). A token whose lifetime is shorter than
// twice the margin is used for half its lifetime.
func WithExpiryMargin(d time.Duration) Option {
	return func(c *Client) {
		if d >= 0 {
			c.margin = d
		}
	}
}

// WithClock sets the clock for assertions and expiry (tests).
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// New returns a token client for fs.
func New(fs *source.FHIRServer, opts ...Option) (*Client, error) {
	if fs == nil {
		return nil, fmt.Errorf("%w: no fhir_server", ErrConfig)
	}
	u, err := url.Parse(fs.TokenURL)
	if err != nil || !AllowedURL(u) {
		return nil, fmt.Errorf("%w: token URL must be https (http only for loopback)", ErrConfig)
	}
	signer, err := jose.NewSigner(fs.SigningKey(), (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("%w: key cannot sign", ErrConfig)
	}
	c := &Client{
		fs:       fs,
		signer:   signer,
		timeout:  DefaultTimeout,
		maxBody:  DefaultMaxResponseBytes,
		margin:   DefaultExpiryMargin,
		now:      time.Now,
		tokenURL: fs.TokenURL,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport()}
	}
	c.hc.CheckRedirect = outbound.NoRedirect
	return c, nil
}

// NewTransport returns the transport the bridge uses towards EHRs (see
// pkg/outbound: TLS 1.2 or higher, bounded dial and handshake times).
func NewTransport() *http.Transport { return outbound.Transport(16, 4) }

// AllowedURL reports whether u may be called: https, or http to a loopback
// host; no user info.
func AllowedURL(u *url.URL) bool {
	if u == nil || u.User != nil || u.Hostname() == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return outbound.IsLoopbackHost(u.Hostname())
	}
	return false
}

// Token returns a valid access token: the cached one, or a new one. If
// another caller is already fetching, Token waits for that answer. The
// request runs on after ctx ends (bounded by the client's timeout) so the
// callers sharing it are not failed by one caller's cancellation.
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.expires) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	cl := c.inflight
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		c.inflight = cl
		go c.fetch(context.WithoutCancel(ctx), cl)
	} else {
		cl.waiters++
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.token, cl.err
	case <-ctx.Done():
		code := CodeTimeout
		if errors.Is(ctx.Err(), context.Canceled) {
			code = CodeCanceled
		}
		return "", &Error{Class: Retryable, Code: code, err: ctx.Err()}
	}
}

// Invalidate drops the cached token if it is still tok: the FHIR server
// refused tok (401), so the next Token fetches a new one. A tok that was
// already replaced is ignored.
func (c *Client) Invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok != "" && c.token == tok {
		c.token = ""
		c.expires = time.Time{}
	}
}

func (c *Client) fetch(ctx context.Context, cl *call) {
	start := c.now() // the lifetime counts from the request, not the answer
	tok, lifetime, err := c.request(ctx)
	c.mu.Lock()
	if err == nil {
		c.token = tok
		c.expires = start.Add(c.usable(lifetime))
	}
	c.inflight = nil
	c.mu.Unlock()
	cl.token, cl.err = tok, err
	close(cl.done)
}

// usable is how long a token of lifetime may be used.
func (c *Client) usable(lifetime time.Duration) time.Duration {
	if lifetime < 2*c.margin {
		return lifetime / 2
	}
	return lifetime - c.margin
}

// tokenResponse is RFC 6749's access token answer.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// errorResponse is RFC 6749's error answer; error_description is not read.
type errorResponse struct {
	Error string `json:"error"`
}

func (c *Client) request(ctx context.Context) (string, time.Duration, error) {
	assertion, err := c.assertion()
	if err != nil {
		return "", 0, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {c.fs.Scope()},
		"client_assertion_type": {AssertionType},
		"client_assertion":      {assertion},
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &Error{Class: Permanent, Code: CodeInvalidRequest}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		code, cause := TransportFailure(err)
		return "", 0, &Error{Class: Retryable, Code: code, err: cause}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		code, cause := TransportFailure(err)
		return "", 0, &Error{Class: Retryable, Code: code, StatusCode: resp.StatusCode, err: cause}
	}
	if int64(len(data)) > c.maxBody {
		return "", 0, &Error{Class: Permanent, Code: CodeTooLarge, StatusCode: resp.StatusCode}
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, c.statusError(resp, data)
	}
	return parseToken(data)
}

func parseToken(data []byte) (string, time.Duration, error) {
	bad := &Error{Class: Permanent, Code: CodeBadResponse, StatusCode: http.StatusOK}
	var tr tokenResponse
	if json.Unmarshal(data, &tr) != nil || !strings.EqualFold(tr.TokenType, "bearer") ||
		!validToken(tr.AccessToken) {
		return "", 0, bad
	}
	lifetime := DefaultLifetime
	if len(tr.ExpiresIn) > 0 && string(tr.ExpiresIn) != "null" {
		var secs float64
		if json.Unmarshal(tr.ExpiresIn, &secs) != nil || secs <= 0 || secs > 86400 {
			return "", 0, bad
		}
		lifetime = time.Duration(secs * float64(time.Second))
	}
	return tr.AccessToken, lifetime, nil
}

// validToken accepts a token usable in an Authorization header (RFC 6750's
// b64token characters, bounded).
func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~+/=", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func (c *Client) statusError(resp *http.Response, data []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode}
	var er errorResponse
	_ = json.Unmarshal(data, &er)
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Class, e.Code = Retryable, CodeRateLimited
	case s >= 500 && s <= 599:
		e.Class, e.Code = Retryable, CodeServerError
	case s == http.StatusBadRequest || s == http.StatusUnauthorized:
		switch er.Error {
		case CodeInvalidClient, CodeUnauthorizedClient, CodeInvalidGrant, CodeInvalidScope:
			e.Class, e.Code = Unauthorized, er.Error
		default:
			if s == http.StatusUnauthorized {
				e.Class, e.Code = Unauthorized, CodeUnauthorized
			} else {
				e.Class, e.Code = Permanent, CodeInvalidRequest
			}
		}
	case s == http.StatusForbidden:
		e.Class, e.Code = Unauthorized, CodeForbidden
	default:
		e.Class, e.Code = Permanent, CodeUnexpectedStatus
	}
	if e.Class == Retryable {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// assertion signs a fresh client assertion.
func (c *Client) assertion() (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", &Error{Class: Retryable, Code: CodeSign}
	}
	now := c.now()
	claims := jwt.Claims{
		Issuer:   c.fs.ClientID,
		Subject:  c.fs.ClientID,
		Audience: jwt.Audience{c.tokenURL},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(AssertionLifetime)),
		ID:       hex.EncodeToString(jti[:]),
	}
	s, err := jwt.Signed(c.signer).Claims(claims).Serialize()
	if err != nil {
		return "", &Error{Class: Permanent, Code: CodeSign}
	}
	return s, nil
}

// parseHTTPTime parses an HTTP-date.
func parseHTTPTime(v string) (time.Time, error) { return http.ParseTime(v) }
