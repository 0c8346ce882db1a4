package phi

import (
	"encoding/base64"
	"errors"
	"strings"
)

// ErrKeyEncoding is returned by ParsePseudonymKey for a parameter that is not
// base64. The message never quotes the parameter.
var ErrKeyEncoding = errors.New("phi: pseudonym-key parameter is not base64")

// ParsePseudonymKey decodes the pseudonym-key SSM parameter: base64 (standard
// or URL alphabet, padding optional) of at least MinKeyLen random bytes, as
// docs/operations.md tells operators to create it (`openssl rand -base64 32`).
// Intake, dispatch and the redrive tool all read the key through this one
// function, so they derive the same pseudonyms.
func ParsePseudonymKey(param string) ([]byte, error) {
	s := strings.TrimSpace(param)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) < MinKeyLen {
				return nil, ErrShortKey
			}
			return key, nil
		}
	}
	return nil, ErrKeyEncoding
}

// NewGuardFromParameters builds the guard from the two SSM parameters every
// function reads: pseudonym-key (base64) and clinic-id.
func NewGuardFromParameters(pseudonymKey, clinicID string, opts ...Option) (*Guard, error) {
	key, err := ParsePseudonymKey(pseudonymKey)
	if err != nil {
		return nil, err
	}
	p, err := NewHMACPseudonymizer(key)
	if err != nil {
		return nil, err
	}
	return New(p, clinicID, opts...)
}
