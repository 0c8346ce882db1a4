package ehr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/novamed/bridge/pkg/outbound"
	"github.com/novamed/bridge/pkg/smart"
	"github.com/novamed/bridge/pkg/source"
)

// Defaults of a Fetcher.
const (
	// DefaultTimeout bounds one read (token request included).
	DefaultTimeout = 20 * time.Second
	// DefaultMaxResponseBytes bounds a fetched resource.
	DefaultMaxResponseBytes = 1 << 20
	// MaxHops bounds the reads of one Fetch (AuditEvent → Encounter →
	// Patient is three).
	MaxHops = 3
)

// ErrConfig reports a Fetcher that cannot be built.
var ErrConfig = errors.New("ehr: invalid configuration")

// TokenSource supplies access tokens; *smart.Client is one.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	// Invalidate drops tok after the FHIR server refused it.
	Invalidate(tok string)
}

// Resource is a fetched Patient or Practitioner. Body is the raw JSON as
// the EHR sent it: PHI. It is never printed or logged.
type Resource struct {
	Type string
	ID   string
	Body []byte
	// Via lists the resources read on the way, in order (the notification's
	// AuditEvent, an Encounter); empty when the reference was the person.
	Via []Reference
}

// String names the type and size only.
func (r Resource) String() string {
	return fmt.Sprintf("ehr.Resource{Type: %s, %d bytes, %d hops}", r.Type, len(r.Body), len(r.Via))
}

// GoString names the type and size only, for %#v.
func (r Resource) GoString() string { return r.String() }

// Format names the type and size only, whatever the verb.
func (r Resource) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// LogValue logs the type, size and hops.
func (r Resource) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", r.Type), slog.Int("bytes", len(r.Body)), slog.Int("hops", len(r.Via)))
}

// Fetcher reads resources from one source's FHIR server. It is safe for
// concurrent use.
type Fetcher struct {
	base    string // no trailing slash
	tokens  TokenSource
	hc      *http.Client
	timeout time.Duration
	maxBody int64
}

// Option configures a Fetcher.
type Option func(*Fetcher)

// WithTokenSource uses ts instead of a new smart.Client for the server.
func WithTokenSource(ts TokenSource) Option { return func(f *Fetcher) { f.tokens = ts } }

// WithHTTPClient reads through a copy of hc (also used for tokens when the
// Fetcher makes its own smart.Client). Redirects are never followed.
func WithHTTPClient(hc *http.Client) Option {
	return func(f *Fetcher) {
		if hc != nil {
			cp := *hc
			f.hc = &cp
		}
	}
}

// WithTimeout bounds each read (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(f *Fetcher) {
		if d > 0 {
			f.timeout = d
		}
	}
}

// WithMaxResponseBytes bounds a fetched resource (default
// DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) Option {
	return func(f *Fetcher) {
		if n > 0 {
			f.maxBody = n
		}
	}
}

// New returns a Fetcher for fs. Without WithTokenSource it makes its own
// smart.Client; share one Fetcher per source so the token is cached.
func New(fs *source.FHIRServer, opts ...Option) (*Fetcher, error) {
	if fs == nil {
		return nil, fmt.Errorf("%w: no fhir_server", ErrConfig)
	}
	u, err := url.Parse(fs.BaseURL)
	if err != nil || !smart.AllowedURL(u) || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: base URL must be https (http only for loopback)", ErrConfig)
	}
	f := &Fetcher{base: fs.BaseURL, timeout: DefaultTimeout, maxBody: DefaultMaxResponseBytes}
	for _, opt := range opts {
		opt(f)
	}
	if f.hc == nil {
		f.hc = &http.Client{Transport: smart.NewTransport()}
	}
	f.hc.CheckRedirect = outbound.NoRedirect
	if f.tokens == nil {
		c, err := smart.New(fs, smart.WithHTTPClient(f.hc))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		f.tokens = c
	}
	return f, nil
}

// ParseReference is the package's ParseReference on this server's base URL.
func (f *Fetcher) ParseReference(ref string) (Reference, error) { return ParseReference(f.base, ref) }

// Fetch reads ref (relative, or absolute under the base URL) and follows it
// to the Patient or Practitioner it is about (see the package doc). A
// reference outside the server is refused before any request.
func (f *Fetcher) Fetch(ctx context.Context, ref string) (*Resource, error) {
	r, err := f.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	var via []Reference
	for range MaxHops {
		res, err := f.Read(ctx, r)
		if err != nil {
			return nil, err
		}
		if res.Type == TypePatient || res.Type == TypePractitioner {
			res.Via = via
			return res, nil
		}
		via = append(via, r)
		next, err := f.next(res)
		if err != nil {
			return nil, err
		}
		r = next
	}
	return nil, &Error{Class: Permanent, Code: CodeTooManyHops, Type: r.Type}
}

// Read reads one resource (no following) with one retry on 401/403 with a
// fresh token.
func (f *Fetcher) Read(ctx context.Context, r Reference) (*Resource, error) {
	if !slices.Contains(ResourceTypes, r.Type) || !idRE.MatchString(r.ID) {
		return nil, &Error{Class: Permanent, Code: CodeInvalidReference, err: ErrInvalidReference}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		tok, err := f.tokens.Token(ctx)
		if err != nil {
			return nil, tokenError(r.Type, err)
		}
		res, status, err := f.get(ctx, r, tok)
		if (status == http.StatusUnauthorized || status == http.StatusForbidden) && attempt == 0 {
			f.tokens.Invalidate(tok)
			continue
		}
		return res, err
	}
}

// get performs one GET and classifies the answer.
func (f *Fetcher) get(ctx context.Context, r Reference, tok string) (*Resource, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/"+r.Path(), nil)
	if err != nil {
		return nil, 0, &Error{Class: Permanent, Code: CodeInvalidReference, Type: r.Type, err: ErrInvalidReference}
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", smart.UserAgent)
	resp, err := f.hc.Do(req)
	if err != nil {
		code, cause := smart.TransportFailure(err)
		return nil, 0, &Error{Class: Retryable, Code: code, Type: r.Type, err: cause}
	}
	defer resp.Body.Close()
	status := resp.StatusCode
	fail := func(class Class, code string) (*Resource, int, error) {
		e := &Error{Class: class, Code: code, Type: r.Type, StatusCode: status}
		if class == Retryable {
			e.RetryAfter = smart.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, status, e
	}
	switch {
	case status == http.StatusOK:
	case status == http.StatusNotFound:
		return fail(NotFound, CodeNotFound)
	case status == http.StatusGone:
		return fail(NotFound, CodeGone)
	case status == http.StatusUnauthorized:
		return fail(Unauthorized, CodeUnauthorized)
	case status == http.StatusForbidden:
		return fail(Unauthorized, CodeForbidden)
	case status == http.StatusTooManyRequests:
		return fail(Retryable, CodeRateLimited)
	case status >= 500 && status <= 599:
		return fail(Retryable, CodeServerError)
	case status >= 300 && status <= 399:
		return fail(Permanent, CodeRedirect)
	default:
		return fail(Permanent, CodeUnexpectedStatus)
	}

	data, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBody+1))
	if err != nil {
		code, cause := smart.TransportFailure(err)
		return nil, status, &Error{Class: Retryable, Code: code, Type: r.Type, StatusCode: status, err: cause}
	}
	if int64(len(data)) > f.maxBody {
		return fail(Permanent, CodeTooLarge)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/fhir+json" && mt != "application/json" && mt != "application/json+fhir") {
		return fail(Permanent, CodeBadResponse)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if !json.Valid(data) || json.Unmarshal(data, &head) != nil {
		return fail(Permanent, CodeBadResponse)
	}
	if head.ResourceType != r.Type || head.ID != r.ID {
		return fail(Permanent, CodeMismatch)
	}
	return &Resource{Type: r.Type, ID: r.ID, Body: bytes.Clone(data)}, status, nil
}
