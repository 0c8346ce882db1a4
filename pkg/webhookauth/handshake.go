package webhookauth

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// SchemeFormstackHandshake names FormstackHandshake in a source definition.
const SchemeFormstackHandshake = "formstack-handshake"

// FormstackHandshakeField is the body field that carries a Formstack
// webhook's shared secret ("WebHook Shared Secret", sent as HandshakeKey
// beside FormID and UniqueID).
const FormstackHandshakeField = "HandshakeKey"

// FormstackHandshake verifies the shared secret a Formstack webhook without
// an HMAC key carries in its body's HandshakeKey field, JSON or
// application/x-www-form-urlencoded (Formstack's default). It is the one
// verifier that reads the body, and only that one top-level field. Like a
// bearer token it proves only that the sender knows the secret: nothing
// binds it to the rest of the body. Prefer Formstack's HMAC key
// (X-FS-Signature, scheme hmac-sha256) where the form can have one.
type FormstackHandshake struct {
	// digests holds SHA-256 digests of the secrets, compared in constant
	// time (as Bearer does).
	digests *keyring
}

var _ Verifier = (*FormstackHandshake)(nil)

// NewFormstackHandshake returns a verifier accepting any of secrets, each
// at least MinSecretBytes of visible ASCII.
func NewFormstackHandshake(secrets []string) (*FormstackHandshake, error) {
	kr, err := digestKeys(secrets)
	if err != nil {
		return nil, err
	}
	return &FormstackHandshake{digests: kr}, nil
}

// digestKeys keeps SHA-256 digests of secrets of visible ASCII, at least
// MinSecretBytes and at most maxTokenLen long.
func digestKeys(secrets []string) (*keyring, error) {
	return buildKeyring(secrets, func(s string) ([]byte, error) {
		if err := checkSecretText(s); err != nil || len(s) > maxTokenLen {
			return nil, ErrInvalidSecret
		}
		if len(s) < MinSecretBytes {
			return nil, ErrWeakSecret
		}
		d := sha256.Sum256([]byte(s))
		return d[:], nil
	})
}

// Verify finds HandshakeKey in the body, by the Content-Type: form
// encoding when it says application/x-www-form-urlencoded, JSON otherwise.
// A body that does not decode, or a field that is not a string, is
// ErrMalformedSignature; no field or an empty one, ErrMissingSignature.
func (v *FormstackHandshake) Verify(h http.Header, body []byte, _ time.Time) (Verified, error) {
	key, err := handshakeKey(headerValue(h, "Content-Type"), body)
	if err != nil {
		return Verified{}, err
	}
	d := sha256.Sum256([]byte(key))
	if equalsAny(d[:], v.digests.keys) {
		return Verified{}, nil
	}
	return Verified{}, ErrNoMatchingSignature
}

func handshakeKey(ct string, body []byte) (string, error) {
	var key string
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/x-www-form-urlencoded" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return "", ErrMalformedSignature
		}
		if vs := vals[FormstackHandshakeField]; len(vs) > 0 {
			if len(vs) > 1 {
				return "", ErrMalformedSignature // which one would be the sender's?
			}
			key = vs[0]
		}
	} else {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			return "", ErrMalformedSignature
		}
		if raw, ok := m[FormstackHandshakeField]; ok && string(raw) != "null" {
			if json.Unmarshal(raw, &key) != nil {
				return "", ErrMalformedSignature
			}
		}
	}
	if key == "" {
		return "", ErrMissingSignature
	}
	return key, nil
}

// SignFormstackHandshake returns the HandshakeKey value carrying secret:
// the secret itself (the caller puts it in the body).
func SignFormstackHandshake(secret string) string { return secret }

func (v FormstackHandshake) describe() string {
	return fmt.Sprintf("webhookauth.FormstackHandshake{secrets: %d [REDACTED]}", v.digests.count())
}

// String describes the verifier without its secrets.
func (v FormstackHandshake) String() string { return v.describe() }

// GoString describes the verifier without its secrets, for %#v.
func (v FormstackHandshake) GoString() string { return v.describe() }

// Format describes the verifier without its secrets, whatever the verb.
func (v FormstackHandshake) Format(f fmt.State, _ rune) { writeRedacted(f, v.describe()) }

// LogValue logs the scheme and the number of secrets, never a secret.
func (v FormstackHandshake) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", SchemeFormstackHandshake), slog.Int("secrets", v.digests.count()))
}
