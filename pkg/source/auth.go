package source

import (
	"errors"
	"fmt"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// How a source's auth block becomes a verifier, and how its errors are told.

// checkSchemeFormat refuses schemes that cannot work for a format: Jotform
// cannot sign, so url-token is its only scheme, and a URL secret (weaker
// than a signature, and carried in URLs) serves no other format; the
// Formstack handshake is read from Formstack bodies only.
func checkSchemeFormat(scheme, format string) (field, reason string) {
	switch {
	case format == FormatJotform && scheme != webhookauth.SchemeURLToken && scheme != "":
		return "auth.scheme", "format jotform cannot sign: use url-token"
	case scheme == webhookauth.SchemeURLToken && format != FormatJotform:
		return "auth.scheme", "url-token is only for format jotform (senders that can sign must)"
	case scheme == webhookauth.SchemeFormstackHandshake && format != FormatFormstack:
		return "auth.scheme", "formstack-handshake is only for format formstack"
	}
	return "", ""
}

func buildVerifier(a Auth) (v webhookauth.Verifier, field, reason string, err error) {
	hmacOnly := func() (string, bool) {
		switch {
		case a.Header != "":
			return "auth.header", true
		case a.Encoding != "":
			return "auth.encoding", true
		case a.Prefix != "":
			return "auth.prefix", true
		}
		return "", false
	}
	if a.Scheme != webhookauth.SchemeHMACSHA256 && a.Scheme != "" {
		if f, ok := hmacOnly(); ok {
			return nil, f, "only used with scheme hmac-sha256", nil
		}
	}
	if a.Scheme != webhookauth.SchemeStandardWebhooks && a.ToleranceSeconds != 0 {
		return nil, "auth.tolerance_seconds", "only used with scheme standard-webhooks", nil
	}

	switch a.Scheme {
	case webhookauth.SchemeStandardWebhooks:
		var opts []webhookauth.Option
		if t := a.ToleranceSeconds; t != 0 {
			if t < 1 || t > maxToleranceSeconds {
				return nil, "auth.tolerance_seconds", fmt.Sprintf("out of range (1 to %d)", maxToleranceSeconds), nil
			}
			opts = append(opts, webhookauth.WithTolerance(time.Duration(t)*time.Second))
		}
		v, err = webhookauth.NewStandardWebhooks(a.Secrets, opts...)
	case webhookauth.SchemeTypeform:
		v, err = webhookauth.NewTypeform(a.Secrets)
	case webhookauth.SchemeHMACSHA256:
		switch {
		case a.Header == "":
			return nil, "auth.header", "required for scheme hmac-sha256", nil
		case a.Encoding == "":
			return nil, "auth.encoding", "required for scheme hmac-sha256 (hex or base64)", nil
		}
		v, err = webhookauth.NewHMAC(webhookauth.HMACConfig{
			Header: a.Header, Encoding: webhookauth.Encoding(a.Encoding), Prefix: a.Prefix,
		}, a.Secrets)
	case webhookauth.SchemeBearer:
		v, err = webhookauth.NewBearer(a.Secrets)
	case webhookauth.SchemeFormstackHandshake:
		v, err = webhookauth.NewFormstackHandshake(a.Secrets)
	case webhookauth.SchemeURLToken:
		v, err = webhookauth.NewURLToken(a.Secrets)
	case "":
		return nil, "auth.scheme", "required: a source with no auth scheme is refused", nil
	default:
		return nil, "auth.scheme", "unknown (want standard-webhooks, typeform, hmac-sha256, bearer, formstack-handshake or url-token)", nil
	}
	if err != nil {
		field, reason := describeAuthError(err)
		return nil, field, reason, err
	}
	return v, "", "", nil
}

// describeAuthError turns a webhookauth constructor error into a path and a
// reason. webhookauth's errors hold no secret, and neither does this.
func describeAuthError(err error) (string, string) {
	var se *webhookauth.SecretError
	if errors.As(err, &se) {
		field := fmt.Sprintf("auth.secrets[%d]", se.Index)
		switch {
		case errors.Is(err, webhookauth.ErrWeakSecret):
			return field, fmt.Sprintf("too short (at least %d bytes; url-token: %d)", webhookauth.MinSecretBytes, webhookauth.MinURLTokenLen)
		default:
			return field, "not a valid secret for this scheme (standard-webhooks: whsec_ and base64; url-token: letters, digits, -, _, ., ~; others: visible ASCII, no spaces)"
		}
	}
	switch {
	case errors.Is(err, webhookauth.ErrNoSecrets):
		return "auth.secrets", "required (at least one)"
	case errors.Is(err, webhookauth.ErrTooManySecrets):
		return "auth.secrets", fmt.Sprintf("too many (at most %d)", webhookauth.MaxSecrets)
	case errors.Is(err, webhookauth.ErrInvalidHeaderName):
		return "auth.header", "not a valid header name"
	case errors.Is(err, webhookauth.ErrInvalidEncoding):
		return "auth.encoding", "unknown (want hex or base64)"
	case errors.Is(err, webhookauth.ErrInvalidPrefix):
		return "auth.prefix", "must be at most 32 visible ASCII characters"
	default:
		return "auth", "invalid"
	}
}
