package webhookauth

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// HeaderAuthorization carries a bearer token.
const HeaderAuthorization = "Authorization"

// maxTokenLen bounds a configured bearer token.
const maxTokenLen = 4096

// Bearer verifies a static bearer token ("Authorization: Bearer <token>"),
// as a FHIR rest-hook subscription's channel headers send it. Several tokens
// may be configured, for rotation. It proves only that the sender knows a
// token: nothing binds the token to the body.
type Bearer struct {
	// digests holds SHA-256 digests of the tokens. Comparing digests keeps
	// the comparison constant-time in the token's length as well as its
	// content, which subtle.ConstantTimeCompare on the tokens would not.
	digests       *keyring
	maxSignatures int
}

var _ Verifier = (*Bearer)(nil)

// NewBearer returns a verifier accepting any of tokens, each at least
// MinSecretBytes of visible ASCII. Option: WithMaxSignatures (each
// Authorization value counts as one).
func NewBearer(tokens []string, opts ...Option) (*Bearer, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	kr, err := buildKeyring(tokens, func(t string) ([]byte, error) {
		if err := checkSecretText(t); err != nil || len(t) > maxTokenLen {
			return nil, ErrInvalidSecret
		}
		if len(t) < MinSecretBytes {
			return nil, ErrWeakSecret
		}
		d := sha256.Sum256([]byte(t))
		return d[:], nil
	})
	if err != nil {
		return nil, err
	}
	return &Bearer{digests: kr, maxSignatures: o.maxSignatures}, nil
}

// Verify checks the Authorization header. Verified.EventID is always empty.
func (v *Bearer) Verify(h http.Header, _ []byte, _ time.Time) (Verified, error) {
	values := headerValues(h, HeaderAuthorization)
	if len(values) == 0 {
		return Verified{}, ErrMissingSignature
	}
	checked, blank := false, true
	for i, value := range values {
		if i == v.maxSignatures {
			break
		}
		value = strings.TrimSpace(value)
		if value == "" {
			continue
		}
		blank = false
		scheme, token, ok := strings.Cut(value, " ")
		token = strings.TrimLeft(token, " ")
		// The auth-scheme is case-insensitive (RFC 9110, section 11.1).
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			continue
		}
		checked = true
		d := sha256.Sum256([]byte(token))
		if equalsAny(d[:], v.digests.keys) {
			return Verified{}, nil
		}
	}
	switch {
	case blank:
		return Verified{}, ErrMissingSignature
	case !checked:
		return Verified{}, ErrMalformedSignature
	default:
		return Verified{}, ErrNoMatchingSignature
	}
}

// SignBearer returns the Authorization value that carries token.
func SignBearer(token string) string { return "Bearer " + token }

func (v Bearer) describe() string {
	return fmt.Sprintf("webhookauth.Bearer{tokens: %d [REDACTED]}", v.digests.count())
}

// String describes the verifier without its tokens.
func (v Bearer) String() string { return v.describe() }

// GoString describes the verifier without its tokens, for %#v.
func (v Bearer) GoString() string { return v.describe() }

// Format describes the verifier without its tokens, whatever the verb.
func (v Bearer) Format(f fmt.State, _ rune) { writeRedacted(f, v.describe()) }

// LogValue logs the scheme and the number of tokens, never a token.
func (v Bearer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", SchemeBearer), slog.Int("secrets", v.digests.count()))
}
