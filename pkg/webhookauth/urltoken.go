package webhookauth

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// SchemeURLToken names URLToken in a source definition.
const SchemeURLToken = "url-token"

// URL token limits.
const (
	// URLTokenParam is the query parameter that carries the token:
	// https://<host>/webhooks/<source>?token=<token>.
	URLTokenParam = "token"
	// MinURLTokenLen is the shortest URL token accepted: 32 characters of
	// a random token (a URL-safe base64 or hex string of 24 or 16 random
	// bytes and more). A URL is stored in more places than a header.
	MinURLTokenLen = 32
	// maxQueryLen bounds the query string read.
	maxQueryLen = 4096
)

// QueryVerifier is a Verifier that reads the request's query string. A
// caller that has the query calls VerifyQuery (VerifyRequest does);
// Verify alone fails with ErrMissingSignature.
type QueryVerifier interface {
	Verifier
	VerifyQuery(rawQuery string, h http.Header, body []byte, now time.Time) (Verified, error)
}

// VerifyRequest verifies a request with v: through VerifyQuery when v
// reads the query string (URLToken), through Verify otherwise.
func VerifyRequest(v Verifier, rawQuery string, h http.Header, body []byte, now time.Time) (Verified, error) {
	if qv, ok := v.(QueryVerifier); ok {
		return qv.VerifyQuery(rawQuery, h, body, now)
	}
	return v.Verify(h, body, now)
}

// URLToken verifies a secret carried in the URL's query (?token=...), for
// senders that cannot sign or add a header (Jotform). It proves only that
// the sender knows the URL. The token is as secret as any key: it must
// not reach a log, so the callers log no query string and API Gateway's
// access log format has no path or query with it. Several tokens may be
// configured, for rotation.
type URLToken struct {
	digests *keyring
}

var _ QueryVerifier = (*URLToken)(nil)

// NewURLToken returns a verifier accepting any of tokens, each at least
// MinURLTokenLen characters of what may stand in a query unescaped
// (letters, digits, '-', '_', '.', '~').
func NewURLToken(tokens []string) (*URLToken, error) {
	kr, err := buildKeyring(tokens, func(t string) ([]byte, error) {
		if err := checkSecretText(t); err != nil || len(t) > maxTokenLen || !unreserved(t) {
			return nil, ErrInvalidSecret
		}
		if len(t) < MinURLTokenLen {
			return nil, ErrWeakSecret
		}
		d := sha256.Sum256([]byte(t))
		return d[:], nil
	})
	if err != nil {
		return nil, err
	}
	return &URLToken{digests: kr}, nil
}

// unreserved reports whether s is made of RFC 3986 unreserved characters
// only, so that it travels in a URL as written.
func unreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// Verify fails: the token is in the query, which Verify does not see.
func (v *URLToken) Verify(http.Header, []byte, time.Time) (Verified, error) {
	return Verified{}, ErrMissingSignature
}

// VerifyQuery checks the token parameter of rawQuery. A query that does
// not parse, is too long or repeats the parameter is ErrMalformedSignature.
func (v *URLToken) VerifyQuery(rawQuery string, _ http.Header, _ []byte, _ time.Time) (Verified, error) {
	if len(rawQuery) > maxQueryLen {
		return Verified{}, ErrMalformedSignature
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Verified{}, ErrMalformedSignature
	}
	toks := vals[URLTokenParam]
	switch {
	case len(toks) == 0 || len(toks) == 1 && toks[0] == "":
		return Verified{}, ErrMissingSignature
	case len(toks) > 1:
		return Verified{}, ErrMalformedSignature
	}
	d := sha256.Sum256([]byte(toks[0]))
	if equalsAny(d[:], v.digests.keys) {
		return Verified{}, nil
	}
	return Verified{}, ErrNoMatchingSignature
}

// URLTokenQuery returns the query string that carries token.
func URLTokenQuery(token string) string {
	return url.Values{URLTokenParam: {token}}.Encode()
}

func (v URLToken) describe() string {
	return fmt.Sprintf("webhookauth.URLToken{param: %s, tokens: %d [REDACTED]}", URLTokenParam, v.digests.count())
}

// String describes the verifier without its tokens.
func (v URLToken) String() string { return v.describe() }

// GoString describes the verifier without its tokens, for %#v.
func (v URLToken) GoString() string { return v.describe() }

// Format describes the verifier without its tokens, whatever the verb.
func (v URLToken) Format(f fmt.State, _ rune) { writeRedacted(f, v.describe()) }

// LogValue logs the scheme and the number of tokens, never a token.
func (v URLToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", SchemeURLToken), slog.Int("secrets", v.digests.count()))
}
