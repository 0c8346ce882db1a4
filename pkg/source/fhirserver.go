package source

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// Signing algorithms a fhir_server private key may use (SMART Backend
// Services names exactly these two).
const (
	AlgES384 = string(jose.ES384)
	AlgRS384 = string(jose.RS384)
)

// MinRSABits is the smallest RSA modulus a fhir_server key may have.
const MinRSABits = 2048

// Bounds of fhir_server's text fields.
const (
	maxClientIDLen = 256
	maxKeyIDLen    = 128
	maxScopeLen    = 2048
	maxScopes      = 32
	maxURLLen      = 2048
)

// FHIRServer is a parsed, validated fhir_server: where and how the bridge
// fetches resources from the sender's FHIR server with SMART Backend
// Services. The private key is unexported and never printed or logged.
type FHIRServer struct {
	// BaseURL is the FHIR base URL without a trailing slash
	// ("https://fhir.example.org/r4").
	BaseURL string
	// TokenURL is the SMART token endpoint.
	TokenURL string
	// ClientID is the client id the EHR issued at registration.
	ClientID string
	// Scopes are the requested scopes, in the definition's order.
	Scopes []string

	key *jose.JSONWebKey // private, alg and kid set
}

// Scope returns the scopes joined by spaces, as a token request sends them.
func (f *FHIRServer) Scope() string { return strings.Join(f.Scopes, " ") }

// Algorithm returns the JWS algorithm of the key: AlgES384 or AlgRS384.
func (f *FHIRServer) Algorithm() string { return f.key.Algorithm }

// KeyID returns the key's kid.
func (f *FHIRServer) KeyID() string { return f.key.KeyID }

// Signer returns the private key as a crypto.Signer.
func (f *FHIRServer) Signer() crypto.Signer { return f.key.Key.(crypto.Signer) }

// SigningKey returns the key for go-jose: signatures made with it carry the
// key's kid in their header.
func (f *FHIRServer) SigningKey() jose.SigningKey {
	return jose.SigningKey{Algorithm: jose.SignatureAlgorithm(f.key.Algorithm), Key: *f.key}
}

// PublicJWK returns the public half of the key, as registered with the EHR.
func (f *FHIRServer) PublicJWK() jose.JSONWebKey { return f.key.Public() }

// Equal reports whether f and g describe the same server, client, scopes
// and key: a caller caching a token client per source keeps it while a
// re-read definition is Equal.
func (f *FHIRServer) Equal(g *FHIRServer) bool {
	if f == nil || g == nil || f.key == nil || g.key == nil {
		return f == g
	}
	pub, ok := f.Signer().Public().(interface{ Equal(crypto.PublicKey) bool })
	return f.BaseURL == g.BaseURL && f.TokenURL == g.TokenURL && f.ClientID == g.ClientID &&
		slices.Equal(f.Scopes, g.Scopes) && f.key.KeyID == g.key.KeyID && f.key.Algorithm == g.key.Algorithm &&
		ok && pub.Equal(g.Signer().Public())
}

// String describes the server without the key.
func (f *FHIRServer) String() string {
	if f == nil {
		return "<nil>"
	}
	alg, kid := "", ""
	if f.key != nil {
		alg, kid = f.key.Algorithm, f.key.KeyID
	}
	return fmt.Sprintf("source.FHIRServer{BaseURL: %s, TokenURL: %s, ClientID: %s, Scopes: %v, Key: %s %s REDACTED}",
		f.BaseURL, f.TokenURL, f.ClientID, f.Scopes, alg, kid)
}

// GoString describes the server without the key, for %#v.
func (f *FHIRServer) GoString() string { return f.String() }

// Format describes the server without the key, whatever the verb.
func (f *FHIRServer) Format(s fmt.State, _ rune) { _, _ = io.WriteString(s, f.String()) }

// LogValue logs the hosts, client id and algorithm, never the key.
func (f *FHIRServer) LogValue() slog.Value {
	if f == nil || f.key == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("base_url", f.BaseURL),
		slog.String("client_id", f.ClientID),
		slog.String("alg", f.key.Algorithm),
		slog.String("kid", f.key.KeyID),
	)
}

// FHIRServerDefinition is a definition's "fhir_server" object.
// PrivateKey is the private JWK; it is never printed or logged.
type FHIRServerDefinition struct {
	BaseURL    string          `json:"base_url"`
	TokenURL   string          `json:"token_url"`
	ClientID   string          `json:"client_id"`
	Scope      string          `json:"scope"`
	PrivateKey json.RawMessage `json:"private_key"`
}

// String describes the object without the private key.
func (d FHIRServerDefinition) String() string {
	return fmt.Sprintf("source.FHIRServerDefinition{BaseURL: %s, TokenURL: %s, ClientID: %s, Scope: %s, PrivateKey: REDACTED}",
		d.BaseURL, d.TokenURL, d.ClientID, d.Scope)
}

// GoString describes the object without the private key, for %#v.
func (d FHIRServerDefinition) GoString() string { return d.String() }

// Format describes the object without the private key, whatever the verb.
func (d FHIRServerDefinition) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, d.String()) }

// LogValue logs the base URL and client id.
func (d FHIRServerDefinition) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", d.BaseURL), slog.String("client_id", d.ClientID))
}

var (
	fhirServerKeys = []string{"base_url", "token_url", "client_id", "scope", "private_key"}
	// jwkKeys are the JWK members a private key may have (RFC 7517, 7518):
	// no "oth" (multi-prime RSA), no certificates, no symmetric "k".
	jwkKeys = []string{"kty", "kid", "alg", "use", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi"}
)

// checkFHIRServerKeys is checkKeys for "fhir_server" and its private_key.
func checkFHIRServerKeys(raw json.RawMessage) (field, reason string) {
	members, field, reason := objectKeys(raw, "fhir_server", fhirServerKeys)
	if reason != "" || members == nil {
		return field, reason
	}
	if pk, ok := members["private_key"]; ok {
		if _, field, reason := objectKeys(pk, "fhir_server.private_key", jwkKeys); reason != "" {
			return field, reason
		}
	}
	return "", ""
}

// scopeRE is a SMART system scope that reads: v1 "system/Patient.read",
// v2 "system/Patient.rs" (or .r, .s), and "*" for every type. Write scopes
// are refused: the bridge only reads, and asks for no more.
var scopeRE = regexp.MustCompile(`^system/(\*|[A-Z][A-Za-z]{1,63})\.(read|rs|r|s)$`)

// Its callers bound the length: a counted repetition of 256 would cost
// a large compilation at every cold start.
var clientIDRE = regexp.MustCompile(`^[\x21-\x7e]+$`)

// parseFHIRServer validates a definition's fhir_server (nil when absent).
func parseFHIRServer(format string, d *FHIRServerDefinition) (*FHIRServer, string, string) {
	if d == nil {
		return nil, "", ""
	}
	if format != FormatFHIRR4 {
		return nil, "fhir_server", "only used with format fhir-r4"
	}
	base, reason := checkServerURL(d.BaseURL)
	if reason != "" {
		return nil, "fhir_server.base_url", reason
	}
	tokenURL, reason := checkServerURL(d.TokenURL)
	if reason != "" {
		return nil, "fhir_server.token_url", reason
	}
	if !clientIDRE.MatchString(d.ClientID) || len(d.ClientID) > maxClientIDLen {
		return nil, "fhir_server.client_id", fmt.Sprintf("required: 1 to %d visible ASCII characters, no spaces", maxClientIDLen)
	}
	scopes, reason := checkScopes(d.Scope)
	if reason != "" {
		return nil, "fhir_server.scope", reason
	}
	key, field, reason := parsePrivateJWK(d.PrivateKey)
	if reason != "" {
		if field == "" {
			return nil, "fhir_server.private_key", reason
		}
		return nil, "fhir_server.private_key." + field, reason
	}
	return &FHIRServer{
		BaseURL:  strings.TrimRight(base.String(), "/"),
		TokenURL: tokenURL.String(),
		ClientID: d.ClientID,
		Scopes:   scopes,
		key:      key,
	}, "", ""
}

// checkServerURL vets base_url and token_url: absolute https (http only for
// a loopback host), no user info, query or fragment. The reason quotes
// nothing of the URL.
func checkServerURL(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, "required"
	}
	if len(raw) > maxURLLen {
		return nil, fmt.Sprintf("too long (at most %d characters)", maxURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, "not a URL"
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, "must be an absolute URL with a host"
	case u.User != nil:
		return nil, "user info not allowed"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return nil, "query or fragment not allowed"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, "http is allowed only for loopback hosts (use https)"
		}
	default:
		return nil, "scheme must be https"
	}
	return u, ""
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}

func checkScopes(s string) ([]string, string) {
	if len(s) > maxScopeLen {
		return nil, fmt.Sprintf("too long (at most %d characters)", maxScopeLen)
	}
	scopes := strings.Split(s, " ")
	switch {
	case strings.TrimSpace(s) == "":
		return nil, "required (for example system/Patient.read)"
	case len(scopes) > maxScopes:
		return nil, fmt.Sprintf("too many scopes (at most %d)", maxScopes)
	}
	for i, sc := range scopes {
		switch {
		case sc == "":
			return nil, "scopes are separated by single spaces, without leading or trailing space"
		case !scopeRE.MatchString(sc):
			return nil, fmt.Sprintf("scope %d is not a read-only SMART system scope (system/<Type>.read, .rs, .r or .s)", i+1)
		case slices.Contains(scopes[:i], sc):
			return nil, fmt.Sprintf("scope %d is repeated", i+1)
		}
	}
	return scopes, ""
}

// parsePrivateJWK parses and vets the private key. Reasons never quote the
// key, and go-jose's own messages are not passed on.
func parsePrivateJWK(raw json.RawMessage) (*jose.JSONWebKey, string, string) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, "", "required (a private JWK: EC P-384 or RSA of at least 2048 bits)"
	}
	var head struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		Crv string `json:"crv"`
		D   string `json:"d"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, "", "must be a JWK object with string members"
	}
	var alg string
	switch head.Kty {
	case "EC":
		if head.Crv != "P-384" {
			return nil, "crv", "must be P-384 (ES384)"
		}
		alg = AlgES384
	case "RSA":
		alg = AlgRS384
	case "":
		return nil, "kty", "required (EC or RSA)"
	default:
		return nil, "kty", "unsupported (want EC or RSA)"
	}
	switch {
	case head.Alg != "" && head.Alg != alg:
		return nil, "alg", "must be " + alg + " for this key type"
	case head.Use != "" && head.Use != "sig":
		return nil, "use", "must be sig"
	case head.Kid == "":
		return nil, "kid", "required (the key id registered with the EHR)"
	case len(head.Kid) > maxKeyIDLen || !clientIDRE.MatchString(head.Kid):
		return nil, "kid", fmt.Sprintf("must be 1 to %d visible ASCII characters, no spaces", maxKeyIDLen)
	case head.D == "":
		return nil, "d", "required: this must be the private key (the public JWKS is what the EHR gets)"
	}

	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || jwk.IsPublic() {
		return nil, "", "not a valid " + head.Kty + " private JWK"
	}
	switch k := jwk.Key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P384() || !ecKeyConsistent(k) {
			return nil, "", "not a valid EC P-384 private JWK (d does not match x and y)"
		}
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return nil, "n", fmt.Sprintf("RSA key too small (at least %d bits)", MinRSABits)
		}
	default:
		return nil, "", "not a valid private JWK"
	}
	jwk.Algorithm = alg
	jwk.Use = "sig"
	return &jwk, "", ""
}

// ecKeyConsistent reports whether the private scalar belongs to the public
// point (go-jose checks the point is on the curve, not that it matches d).
func ecKeyConsistent(k *ecdsa.PrivateKey) bool {
	d, err := k.Bytes()
	if err != nil {
		return false
	}
	derived, err := ecdsa.ParseRawPrivateKey(k.Curve, d)
	if err != nil {
		return false
	}
	return derived.PublicKey.Equal(&k.PublicKey)
}
