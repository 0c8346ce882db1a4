// Package webhookauth authenticates the senders of webhooks, in the manner
// of Stripe's webhook verification: a Verifier checks the signature (or
// token) a request carries against one or more configured secrets, over the
// raw body exactly as received, and answers with a sentinel error when it
// fails. The body is never parsed here, with one exception:
// FormstackHandshake reads the one top-level field (HandshakeKey) in which
// Formstack carries a webhook's shared secret when the form has no HMAC key.
// Senders that can neither sign nor add a header (Jotform) carry a secret in
// the URL's query: URLToken, a QueryVerifier, which callers reach through
// VerifyRequest.
//
// Every error Verify returns means "unauthorized" (HTTP 401): the sentinels
// let callers count failures by reason, and none of them contains a header
// value, a body byte or a secret.
//
// Secrets never print: the verifiers keep them behind a pointer and
// implement fmt.Formatter, fmt.Stringer, fmt.GoStringer and slog.LogValuer
// to describe themselves without them.
package webhookauth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Verifier checks that a request comes from a sender holding one of the
// secrets it was configured with. now is the time of receipt, passed in so
// that time-bounded schemes are testable.
type Verifier interface {
	Verify(h http.Header, body []byte, now time.Time) (Verified, error)
}

// Verified is what a successful verification learned about the request.
type Verified struct {
	// EventID is the sender's event id when the scheme signs one (Standard
	// Webhooks' webhook-id), empty otherwise. It is covered by the
	// signature, so it is safe to use as an idempotency key.
	EventID string
}

// Scheme names, as a source definition spells them.
const (
	SchemeStandardWebhooks = "standard-webhooks"
	SchemeTypeform         = "typeform"
	SchemeHMACSHA256       = "hmac-sha256"
	SchemeBearer           = "bearer"
	// SchemeFormstackHandshake (handshake.go) and SchemeURLToken
	// (urltoken.go) are defined beside their verifiers.
)

// Limits and defaults.
const (
	// DefaultTolerance is how far a Standard Webhooks timestamp may be from
	// the time of receipt, either way, as the specification recommends.
	DefaultTolerance = 5 * time.Minute
	// MaxTolerance bounds WithTolerance: a wider window makes replay easier
	// and would only hide a broken clock.
	MaxTolerance = time.Hour
	// DefaultMaxSignatures is how many signatures (or Authorization values)
	// of one request are examined at most, so that a hostile header cannot
	// make the verifier compute and compare without end. Rotation needs two.
	DefaultMaxSignatures = 10
	// MinSecretBytes is the shortest secret (decoded, for Standard
	// Webhooks) or bearer token accepted: 128 bits.
	MinSecretBytes = 16
	// MaxSecrets bounds the secrets of one verifier; rotation needs two.
	MaxSecrets = 10
	// MaxEventIDLen bounds a Standard Webhooks webhook-id. The id becomes
	// part of queue message ids and ledger keys.
	MaxEventIDLen = 256
)

// Errors of Verify. They are sentinels, compared with errors.Is; none ever
// carries a header value, a body byte or a secret.
var (
	ErrMissingSignature        = errors.New("webhookauth: missing signature")
	ErrMalformedSignature      = errors.New("webhookauth: malformed signature")
	ErrNoMatchingSignature     = errors.New("webhookauth: no matching signature")
	ErrMissingTimestamp        = errors.New("webhookauth: missing timestamp")
	ErrMalformedTimestamp      = errors.New("webhookauth: malformed timestamp")
	ErrTimestampOutOfTolerance = errors.New("webhookauth: timestamp out of tolerance")
	ErrMissingEventID          = errors.New("webhookauth: missing event id")
	ErrMalformedEventID        = errors.New("webhookauth: malformed event id")
)

// Errors of the constructors and Sign helpers. A problem with one secret is
// reported as a *SecretError naming its position, wrapping one of these.
var (
	ErrNoSecrets         = errors.New("webhookauth: no secrets")
	ErrTooManySecrets    = errors.New("webhookauth: too many secrets")
	ErrInvalidSecret     = errors.New("webhookauth: secret is not valid")
	ErrWeakSecret        = errors.New("webhookauth: secret is too short")
	ErrInvalidHeaderName = errors.New("webhookauth: invalid header name")
	ErrInvalidEncoding   = errors.New("webhookauth: invalid signature encoding")
	ErrInvalidPrefix     = errors.New("webhookauth: invalid signature prefix")
	ErrInvalidOption     = errors.New("webhookauth: invalid option")
)

// SecretError reports which configured secret (by position, from 0) is
// unusable and why. It never holds the secret.
type SecretError struct {
	Index int
	Err   error
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("secret %d: %v", e.Index, e.Err)
}

func (e *SecretError) Unwrap() error { return e.Err }

// Option tunes a verifier.
type Option func(*options)

type options struct {
	tolerance     time.Duration
	maxSignatures int
}

func defaultOptions() options {
	return options{tolerance: DefaultTolerance, maxSignatures: DefaultMaxSignatures}
}

// WithTolerance sets how far a timestamp may be from the time of receipt,
// either way (Standard Webhooks only; other schemes carry no timestamp). It
// must be at least a second and at most MaxTolerance.
func WithTolerance(d time.Duration) Option {
	return func(o *options) { o.tolerance = d }
}

// WithMaxSignatures sets how many signatures of one request are examined at
// most, from 1 to 100.
func WithMaxSignatures(n int) Option {
	return func(o *options) { o.maxSignatures = n }
}

func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.tolerance < time.Second || o.tolerance > MaxTolerance {
		return o, fmt.Errorf("%w: tolerance out of range", ErrInvalidOption)
	}
	if o.maxSignatures < 1 || o.maxSignatures > 100 {
		return o, fmt.Errorf("%w: max signatures out of range", ErrInvalidOption)
	}
	return o, nil
}

// keyring holds secret material. Verifiers keep it behind a pointer so that
// even a reflective dump that bypasses their redacting methods (fmt prints
// unexported fields of a nested struct without calling their methods) shows
// an address, not bytes.
type keyring struct {
	keys [][]byte
}

// count is the number of secrets, for descriptions and logs; a nil keyring
// (a zero-value verifier) holds none.
func (k *keyring) count() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// checkSecretText refuses a secret that is too short or carries the kind of
// accident (a pasted newline, a space) that would make every verification
// fail silently.
func checkSecretText(s string) error {
	if s == "" || strings.TrimSpace(s) != s {
		return ErrInvalidSecret
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x7f {
			return ErrInvalidSecret
		}
	}
	return nil
}

// rawKeys turns secrets used as HMAC keys verbatim (Typeform, Tally,
// Formstack: the sender shows the secret as text) into a keyring.
func rawKeys(secrets []string) (*keyring, error) {
	return buildKeyring(secrets, func(s string) ([]byte, error) {
		if err := checkSecretText(s); err != nil {
			return nil, err
		}
		if len(s) < MinSecretBytes {
			return nil, ErrWeakSecret
		}
		return []byte(s), nil
	})
}

func buildKeyring(secrets []string, key func(string) ([]byte, error)) (*keyring, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	if len(secrets) > MaxSecrets {
		return nil, ErrTooManySecrets
	}
	kr := &keyring{keys: make([][]byte, 0, len(secrets))}
	for i, s := range secrets {
		k, err := key(s)
		if err != nil {
			return nil, &SecretError{Index: i, Err: err}
		}
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// headerValues returns the values of the named header. It looks the name up
// canonically first, then case-insensitively, because a header map built
// from an API Gateway event carries lower-case keys.
func headerValues(h http.Header, name string) []string {
	if v := h.Values(name); len(v) > 0 {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v
		}
	}
	return nil
}

func headerValue(h http.Header, name string) string {
	if v := headerValues(h, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// validHeaderName reports whether name is an RFC 9110 field name (a token).
func validHeaderName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// equalsAny reports whether got equals one of wants. Each comparison takes
// constant time (subtle.ConstantTimeCompare), so a signature or token
// reveals nothing of a secret through timing.
func equalsAny(got []byte, wants [][]byte) bool {
	for _, want := range wants {
		if subtle.ConstantTimeCompare(got, want) == 1 {
			return true
		}
	}
	return false
}

// writeRedacted is the shared body of the verifiers' Format methods: every
// verb prints the description, which holds no secret.
func writeRedacted(f fmt.State, desc string) {
	_, _ = f.Write([]byte(desc))
}
