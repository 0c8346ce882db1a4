package webhookauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Encoding is how a signature header spells the MAC's bytes.
type Encoding string

// The encodings HMAC accepts.
const (
	EncodingHex    Encoding = "hex"    // case-insensitive on input, lower-case when signing
	EncodingBase64 Encoding = "base64" // standard alphabet, padded
)

// Typeform's signature header and the prefix of its value.
const (
	HeaderTypeformSignature = "Typeform-Signature"
	TypeformPrefix          = "sha256="
)

// maxPrefixLen bounds a configured prefix; real ones are "sha256=" or none.
const maxPrefixLen = 32

// HMACConfig says where and how a sender puts an HMAC-SHA256 of the raw body.
// Tally: {Header: "Tally-Signature", Encoding: EncodingBase64}.
// Formstack: {Header: "X-FS-Signature", Encoding: EncodingHex, Prefix: "sha256="}.
type HMACConfig struct {
	// Header is the name of the header holding the signature.
	Header string
	// Encoding is EncodingHex or EncodingBase64.
	Encoding Encoding
	// Prefix, if set, must precede the encoded MAC (e.g. "sha256=").
	Prefix string
}

// HMAC verifies an HMAC-SHA256 of the raw body carried in one header:
// generic senders (Tally, Formstack) and Typeform. The secrets are used as
// keys verbatim. It carries no event id and no timestamp, so it cannot
// refuse a replay; the ledger's duplicate detection has to.
type HMAC struct {
	scheme        string
	cfg           HMACConfig
	keys          *keyring
	maxSignatures int
}

var _ Verifier = (*HMAC)(nil)

// NewHMAC returns a verifier of HMAC-SHA256 signatures placed as cfg says.
// Each secret must be at least MinSecretBytes long. Option:
// WithMaxSignatures (each value of a repeated header is one signature).
func NewHMAC(cfg HMACConfig, secrets []string, opts ...Option) (*HMAC, error) {
	return newHMAC(SchemeHMACSHA256, cfg, secrets, opts)
}

// NewTypeform returns a verifier of Typeform's signatures:
// "Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>".
func NewTypeform(secrets []string, opts ...Option) (*HMAC, error) {
	return newHMAC(SchemeTypeform, typeformConfig, secrets, opts)
}

var typeformConfig = HMACConfig{Header: HeaderTypeformSignature, Encoding: EncodingBase64, Prefix: TypeformPrefix}

func newHMAC(scheme string, cfg HMACConfig, secrets []string, opts []Option) (*HMAC, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	kr, err := rawKeys(secrets)
	if err != nil {
		return nil, err
	}
	return &HMAC{scheme: scheme, cfg: cfg, keys: kr, maxSignatures: o.maxSignatures}, nil
}

func (c HMACConfig) validate() error {
	if !validHeaderName(c.Header) {
		return ErrInvalidHeaderName
	}
	if c.Encoding != EncodingHex && c.Encoding != EncodingBase64 {
		return ErrInvalidEncoding
	}
	if len(c.Prefix) > maxPrefixLen || strings.TrimSpace(c.Prefix) != c.Prefix {
		return ErrInvalidPrefix
	}
	for i := 0; i < len(c.Prefix); i++ {
		if ch := c.Prefix[i]; ch < 0x21 || ch > 0x7e {
			return ErrInvalidPrefix
		}
	}
	return nil
}

// encodedLen is the exact length of an encoded SHA-256 MAC.
func (c HMACConfig) encodedLen() int {
	if c.Encoding == EncodingHex {
		return hex.EncodedLen(sha256.Size)
	}
	return base64.StdEncoding.EncodedLen(sha256.Size)
}

func (c HMACConfig) decode(dst []byte, s string) (int, error) {
	if c.Encoding == EncodingHex {
		return hex.Decode(dst, []byte(s))
	}
	return base64.StdEncoding.Strict().Decode(dst, []byte(s))
}

func (c HMACConfig) encode(mac []byte) string {
	if c.Encoding == EncodingHex {
		return hex.EncodeToString(mac)
	}
	return base64.StdEncoding.EncodeToString(mac)
}

// Verify checks the configured header against body. Verified.EventID is
// always empty: these schemes sign no event id.
func (v *HMAC) Verify(h http.Header, body []byte, _ time.Time) (Verified, error) {
	values := headerValues(h, v.cfg.Header)
	if len(values) == 0 {
		return Verified{}, ErrMissingSignature
	}
	macs := make([][]byte, len(v.keys.keys))
	for i, k := range v.keys.keys {
		macs[i] = bodyMAC(k, body)
	}
	want := v.cfg.encodedLen()
	checked, malformed, blank := false, false, true
	var decoded [sha256.Size + 1]byte
	for i, value := range values {
		if i == v.maxSignatures {
			break
		}
		value = strings.TrimSpace(value)
		if value == "" {
			continue
		}
		blank = false
		enc, ok := strings.CutPrefix(value, v.cfg.Prefix)
		if !ok || len(enc) != want {
			malformed = true
			continue
		}
		n, err := v.cfg.decode(decoded[:], enc)
		if err != nil || n != sha256.Size {
			malformed = true
			continue
		}
		checked = true
		if equalsAny(decoded[:sha256.Size], macs) {
			return Verified{}, nil
		}
	}
	switch {
	case blank:
		return Verified{}, ErrMissingSignature
	case !checked && malformed:
		return Verified{}, ErrMalformedSignature
	default:
		return Verified{}, ErrNoMatchingSignature
	}
}

func bodyMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// SignHMAC returns the signature header value for body as cfg describes
// (cfg.Header names where the caller puts it).
func SignHMAC(secret string, cfg HMACConfig, body []byte) (string, error) {
	if err := cfg.validate(); err != nil {
		return "", err
	}
	if err := checkSecretText(secret); err != nil {
		return "", err
	}
	return cfg.Prefix + cfg.encode(bodyMAC([]byte(secret), body)), nil
}

// SignTypeform returns the Typeform-Signature value for body:
// "sha256=<base64 HMAC-SHA256>".
func SignTypeform(secret string, body []byte) string {
	return TypeformPrefix + typeformConfig.encode(bodyMAC([]byte(secret), body))
}

func (v HMAC) describe() string {
	return fmt.Sprintf("webhookauth.HMAC{scheme: %s, header: %s, encoding: %s, secrets: %d [REDACTED]}",
		v.scheme, v.cfg.Header, v.cfg.Encoding, v.keys.count())
}

// String describes the verifier without its secrets.
func (v HMAC) String() string { return v.describe() }

// GoString describes the verifier without its secrets, for %#v.
func (v HMAC) GoString() string { return v.describe() }

// Format describes the verifier without its secrets, whatever the verb.
func (v HMAC) Format(f fmt.State, _ rune) { writeRedacted(f, v.describe()) }

// LogValue logs the scheme, header and number of secrets, never a secret.
func (v HMAC) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("scheme", v.scheme),
		slog.String("header", v.cfg.Header),
		slog.String("encoding", string(v.cfg.Encoding)),
		slog.Int("secrets", v.keys.count()),
	)
}
