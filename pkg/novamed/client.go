package novamed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/novamed/bridge/pkg/outbound"
)

// KeyFunc supplies the NovaMed API key for one request. The dispatcher plugs
// in a cached SSM reader; tests use StaticKey. It is called on every request
// so that a rotated key is picked up without rebuilding the client.
type KeyFunc func(ctx context.Context) (string, error)

// StaticKey returns a KeyFunc that always supplies key. Meant for tests and
// the local stack; deployed code reads the key from SSM.
func StaticKey(key string) KeyFunc {
	return func(context.Context) (string, error) { return key, nil }
}

// Defaults of a Client.
const (
	// DefaultMaxResponseBytes bounds how much of a response body is read.
	// NovaMed's answers are a few hundred bytes.
	DefaultMaxResponseBytes = 1 << 20
	// DefaultTimeout bounds a call whose context has no earlier deadline, so a
	// hung connection cannot hold a dispatch worker forever.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent identifies the bridge to NovaMed.
	DefaultUserAgent = "novamed-bridge/1"
)

// Errors of the client that are not answers from NovaMed.
var (
	// ErrAPIKey reports that the KeyFunc failed or supplied an unusable key.
	// The key itself is never part of the error.
	ErrAPIKey = errors.New("novamed: api key unavailable")
	// ErrResponseTooLarge reports a response body over the client's limit.
	ErrResponseTooLarge = errors.New("novamed: response body too large")
	// ErrBaseURL reports a base URL that CheckBaseURL refuses.
	ErrBaseURL = errors.New("novamed: base URL refused")
)

// Client calls NovaMed's partner API. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	key       KeyFunc
	hc        *http.Client
	maxBody   int64
	timeout   time.Duration
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send requests through hc. Redirects are
// never followed whatever hc says: following one would hand the API key to
// whatever host the Location names.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			cp := *hc
			c.hc = &cp
		}
	}
}

// WithMaxResponseBytes bounds how much of a response body the client reads.
// A larger body is an error, not an allocation. Values below 1 are ignored.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithTimeout bounds each call in addition to the caller's context deadline
// (the earlier of the two wins). Zero or less keeps DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// NewClient returns a client for the NovaMed API at baseURL (see
// CheckBaseURL) authenticating with the keys key supplies.
func NewClient(baseURL string, key KeyFunc, opts ...Option) (*Client, error) {
	u, err := CheckBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no key function", ErrAPIKey)
	}
	c := &Client{
		base:      strings.TrimSuffix(u.String(), "/"),
		key:       key,
		maxBody:   DefaultMaxResponseBytes,
		timeout:   DefaultTimeout,
		userAgent: DefaultUserAgent,
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

// NewTransport returns the transport a Client uses by default (see
// pkg/outbound: TLS 1.2 or higher, bounded dial and handshake times).
func NewTransport() *http.Transport { return outbound.Transport(64, 16) }

// DefaultBaseURL returns NovaMed's base URL for a stage: ProductionURL only
// when stage is exactly "prod", DevelopmentURL for anything else (empty,
// "PROD", "prod ", "production" included), so a typo fails towards the
// environment that never holds PHI.
func DefaultBaseURL(stage string) string {
	if stage == "prod" {
		return ProductionURL
	}
	return DevelopmentURL
}

// CheckBaseURL parses and vets a NovaMed base URL: https is required, http
// is accepted only for a loopback host (localhost, 127.0.0.0/8, ::1) so the
// sandbox and the local stack work. User info, a query and a fragment are
// refused. The error names the rule broken, never the URL.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrBaseURL)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrBaseURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: user info not allowed", ErrBaseURL)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
		return nil, fmt.Errorf("%w: query or fragment not allowed", ErrBaseURL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !outbound.IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("%w: http is allowed only for loopback hosts", ErrBaseURL)
		}
	default:
		return nil, fmt.Errorf("%w: scheme must be https", ErrBaseURL)
	}
	return u, nil
}

// Errors of CheckStageBaseURL, wrapped with ErrBaseURL. Each names the rule
// broken, never the URL configured or the key.
var (
	// ErrProdHost: STAGE=prod runs only against NovaMed's production host.
	ErrProdHost = errors.New("stage prod sends the API key only to https://" + ProductionHost)
	// ErrDevHost: any other stage runs only against the Development host or
	// a loopback host.
	ErrDevHost = errors.New("a non-prod stage sends the API key only to https://" + DevelopmentHost + " or a loopback host")
)

// CheckStageBaseURL is CheckBaseURL plus the binding of stage and host, so
// the API key of a stage only ever goes to that stage's NovaMed:
//
//   - stage exactly "prod": https on ProductionHost exactly (port empty or
//     443). Loopback is refused too: a production stack has no local
//     NovaMed, the guard would de-identify everything sent there (so nothing
//     real could be delivered), and whatever listened on the port would
//     receive the production key.
//   - any other stage: https on DevelopmentHost exactly (port empty or
//     443), or a loopback host (http or https) for the sandbox, the local
//     stack and tests.
//
// Host names are compared byte for byte, like phi.Resolve: a differently
// cased or dotted spelling is refused rather than guessed at.
func CheckStageBaseURL(stage, raw string) (*url.URL, error) {
	u, err := CheckBaseURL(raw)
	if err != nil {
		return nil, err
	}
	onHost := func(host string) bool {
		return u.Scheme == "https" && u.Hostname() == host && (u.Port() == "" || u.Port() == "443")
	}
	if stage == "prod" {
		if !onHost(ProductionHost) {
			return nil, fmt.Errorf("%w: %w", ErrBaseURL, ErrProdHost)
		}
		return u, nil
	}
	if !onHost(DevelopmentHost) && !outbound.IsLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: %w", ErrBaseURL, ErrDevHost)
	}
	return u, nil
}

// PatientResponse is NovaMed's answer to a created patient.
type PatientResponse struct {
	PatientID  string
	StatusCode int
}

// PractitionerResponse is NovaMed's answer to a created practitioner.
type PractitionerResponse struct {
	PractitionerID string
	StatusCode     int
}

// CreatePatient creates a patient. The request is validated first; an
// invalid one returns a *ValidationError without calling NovaMed.
func (c *Client) CreatePatient(ctx context.Context, p PatientRequest) (*PatientResponse, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, errors.New("novamed: encode patient") // unreachable: all fields are strings
	}
	id, status, err := c.post(ctx, PatientPath, body, "patient_id")
	if err != nil {
		return nil, err
	}
	return &PatientResponse{PatientID: id, StatusCode: status}, nil
}

// CreatePractitioner creates a practitioner. The request is validated first;
// an invalid one returns a *ValidationError without calling NovaMed.
func (c *Client) CreatePractitioner(ctx context.Context, p PractitionerRequest) (*PractitionerResponse, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, errors.New("novamed: encode practitioner") // unreachable: all fields are strings
	}
	id, status, err := c.post(ctx, PractitionerPath, body, "practitioner_id")
	if err != nil {
		return nil, err
	}
	return &PractitionerResponse{PractitionerID: id, StatusCode: status}, nil
}

// Create creates the record of either kind and returns NovaMed's id for it.
// It is what the dispatcher calls; Classify turns its error into an outcome.
func (c *Client) Create(ctx context.Context, r Record) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	switch r.Kind {
	case KindPatient:
		resp, err := c.CreatePatient(ctx, *r.Patient)
		if err != nil {
			return "", err
		}
		return resp.PatientID, nil
	default: // Validate admits only the two kinds.
		resp, err := c.CreatePractitioner(ctx, *r.Practitioner)
		if err != nil {
			return "", err
		}
		return resp.PractitionerID, nil
	}
}

// apiKeyHeader is NovaMed's key header, lower case as documented. It is set
// in the header map directly: Header.Set would canonicalise it to X-Api-Key.
const apiKeyHeader = "x-api-key"

// post sends body to path and returns the id under idField in the answer.
func (c *Client) post(ctx context.Context, path string, body []byte, idField string) (string, int, error) {
	key, err := c.key(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrAPIKey, err)
	}
	if !validKey(key) {
		return "", 0, fmt.Errorf("%w: empty or not a valid header value", ErrAPIKey)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// wrote is set once the whole request is on the wire: from then on a
	// failure may follow a create NovaMed already performed, and NovaMed has
	// no idempotency key to make a retry safe.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("novamed: build request: %w", ErrBaseURL)
	}
	req.Header[apiKeyHeader] = []string{key}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return "", 0, &TransportError{MaybeDelivered: wrote.Load(), Err: err}
	}
	defer resp.Body.Close()

	// Once the status line is in, the status decides: a body that is too
	// large or breaks off leaves an error status an error (judged by status
	// alone) and a success a bad response. Never a transport error: after a
	// 201 the record exists, and a retry would create it twice.
	data, readErr := readBounded(resp.Body, c.maxBody)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return "", resp.StatusCode, newAPIError(resp, data, time.Now())
	}
	if readErr != nil {
		return "", resp.StatusCode, &APIError{StatusCode: resp.StatusCode, Code: CodeBadResponse, err: readErr}
	}
	id, ok := successID(data, idField)
	if !ok {
		return "", resp.StatusCode, &APIError{StatusCode: resp.StatusCode, Code: CodeBadResponse}
	}
	return id, resp.StatusCode, nil
}

// validKey refuses empty keys and keys that are not valid header values
// (net/http's own error for those would be less clear).
func validKey(k string) bool {
	if k == "" || strings.TrimSpace(k) != k {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// readBounded reads at most limit bytes; a longer body is ErrResponseTooLarge.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, ErrResponseTooLarge
	}
	return data, nil
}

// maxIDLen bounds NovaMed's ids (documented as UUIDs; anything much longer is
// not an id).
const maxIDLen = 128

// successID extracts data.<idField> from a success body. The id must be a
// short printable string; the documentation says UUID, but refusing a
// different id shape would dead-letter records NovaMed has created.
func successID(data []byte, idField string) (string, bool) {
	var body struct {
		Success *bool                      `json:"success"`
		Data    map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Success == nil || !*body.Success {
		return "", false
	}
	var id string
	if err := json.Unmarshal(body.Data[idField], &id); err != nil {
		return "", false
	}
	if id == "" || len(id) > maxIDLen {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return "", false
		}
	}
	return id, true
}
