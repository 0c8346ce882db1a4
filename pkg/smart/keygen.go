package smart

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/novamed/bridge/pkg/source"
)

// DefaultRSABits is the modulus size GenerateKey uses for RS384.
const DefaultRSABits = 3072

// ErrKeyGen reports a key GenerateKey cannot make.
var ErrKeyGen = errors.New("smart: cannot generate key")

// GenerateKey makes a signing key for a fhir_server: EC P-384 for
// source.AlgES384, RSA of DefaultRSABits for source.AlgRS384. The result is
// the private JWK with kty, kid, alg and use set, as it goes into a source
// definition's fhir_server.private_key. An empty kid becomes the key's
// RFC 7638 thumbprint (SHA-256, base64url).
func GenerateKey(alg, kid string) (jose.JSONWebKey, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case source.AlgES384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case source.AlgRS384:
		key, err = rsa.GenerateKey(rand.Reader, DefaultRSABits)
	default:
		return jose.JSONWebKey{}, fmt.Errorf("%w: algorithm must be %s or %s", ErrKeyGen, source.AlgES384, source.AlgRS384)
	}
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("%w: %w", ErrKeyGen, err)
	}
	jwk := jose.JSONWebKey{Key: key, Algorithm: alg, Use: "sig"}
	if kid == "" {
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("%w: thumbprint", ErrKeyGen)
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	jwk.KeyID = kid
	return jwk, nil
}

// PublicJWKS returns the JWKS of key's public half: what the EHR registers.
func PublicJWKS(keys ...jose.JSONWebKey) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public())
	}
	return set
}
