// Package samples holds the intake function's sample requests and signs
// requests the way the local test sources' senders would.
//
// Three users share it: cmd/sign-events writes the sample API Gateway events
// under events/intake (for `sam local invoke`), the intake tests replay
// those events against kumo, and the local stack signs its own requests with
// [Sign] and stores the sources [LoadSources] reads in its emulated SSM.
//
// The local test sources live in events/sources/<name>.json, one source
// definition each (the JSON stored in SSM at <PARAM_PREFIX>/sources/<name>,
// see pkg/source). Their secrets are test secrets, committed on purpose and
// used nowhere else.
//
// The sample requests are templates embedded from templates/*.json: the
// source, method, headers and body of a request, how to sign it, and what
// intake must answer. [Build] turns them into signed events at a given time.
// Standard Webhooks signatures expire after five minutes, so the committed
// events are valid only for a handler whose clock reads the event's
// requestContext.timeEpoch ([EventTime]); `make sign-events` signs them again
// at the current time for `sam local invoke`.
package samples

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/source"
	"github.com/novamed/bridge/pkg/webhookauth"
)

// Source is a local test source.
//
// It holds secrets: it prints (fmt, slog) as its name and scheme only.
type Source struct {
	// Name is the source's name, from its file name.
	Name string
	// Definition is the parsed definition, secrets included.
	Definition source.Definition
	// JSON is the definition exactly as read, to store in SSM.
	JSON []byte
}

// ErrNoSources is returned by LoadSources for a directory without
// definitions.
var ErrNoSources = errors.New("samples: no source definitions")

// LoadSources reads every <name>.json in dir, sorted by name. Each file must
// be a definition pkg/source accepts under that name; the error of one that
// is not names the file and the JSON path, never a value.
func LoadSources(dir string) ([]Source, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoSources, dir)
	}
	slices.Sort(files)
	out := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("samples: %w", err)
		}
		s, err := ParseSource(strings.TrimSuffix(filepath.Base(f), ".json"), data)
		if err != nil {
			return nil, fmt.Errorf("samples: %s: %w", filepath.Base(f), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseSource checks data as the definition of the source called name.
func ParseSource(name string, data []byte) (Source, error) {
	if _, err := source.Parse(name, data); err != nil {
		return Source{}, err
	}
	var def source.Definition
	if err := unmarshalStrict(data, &def); err != nil {
		// source.Parse accepted it, so this is not expected.
		return Source{}, errors.New("definition does not decode")
	}
	return Source{Name: name, Definition: def, JSON: slices.Clone(data)}, nil
}

// Find returns the source called name.
func Find(sources []Source, name string) (Source, bool) {
	for _, s := range sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// Scheme returns the source's auth scheme.
func (s Source) Scheme() string { return s.Definition.Auth.Scheme }

func (s Source) describe() string {
	return fmt.Sprintf("samples.Source{Name: %s, Scheme: %s, secrets: %d [REDACTED]}",
		s.Name, s.Scheme(), len(s.Definition.Auth.Secrets))
}

// String describes the source without its secrets.
func (s Source) String() string { return s.describe() }

// GoString describes the source without its secrets.
func (s Source) GoString() string { return s.describe() }

// Format describes the source without its secrets, whatever the verb.
func (s Source) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.describe()) }

// LogValue logs the source's name and scheme.
func (s Source) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("scheme", s.Scheme()))
}

// SignOption changes how Sign signs.
type SignOption func(*signOptions)

type signOptions struct {
	eventID  string
	secret   string
	signedAt time.Time
}

// WithEventID sets the Standard Webhooks webhook-id (default: derived from
// the source, the body and the time, so the same request signed at the same
// time carries the same id, as a sender's retry would).
func WithEventID(id string) SignOption { return func(o *signOptions) { o.eventID = id } }

// WithSecret signs with secret instead of the source's first secret (to
// make a request the source must refuse, or to sign with a rotated secret).
func WithSecret(secret string) SignOption { return func(o *signOptions) { o.secret = secret } }

// WithSignedAt sets the Standard Webhooks timestamp (default: now), to make a
// stale signature.
func WithSignedAt(t time.Time) SignOption { return func(o *signOptions) { o.signedAt = t } }

// Sign returns the headers a sender of src would add to a request carrying
// body at time now, with lower-case names as API Gateway passes them:
// webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks),
// typeform-signature, the configured header (hmac-sha256) or authorization
// (bearer); none for url-token (the token travels in the URL: [Query]) and
// formstack-handshake (the secret travels in the body's HandshakeKey). It
// signs with the source's first secret, as senders do during a rotation.
func Sign(src Source, body []byte, now time.Time, opts ...SignOption) (map[string]string, error) {
	o := signOptions{signedAt: now}
	if secrets := src.Definition.Auth.Secrets; len(secrets) > 0 {
		o.secret = secrets[0]
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.secret == "" {
		return nil, fmt.Errorf("samples: source %s: no secret to sign with", src.Name)
	}
	a := src.Definition.Auth
	switch a.Scheme {
	case webhookauth.SchemeStandardWebhooks:
		id := o.eventID
		if id == "" {
			id = defaultEventID(src.Name, body, o.signedAt)
		}
		h, err := webhookauth.StandardWebhooksHeader(o.secret, id, o.signedAt, body)
		if err != nil {
			return nil, fmt.Errorf("samples: source %s: %w", src.Name, err)
		}
		return lowerKeys(h), nil
	case webhookauth.SchemeTypeform:
		return map[string]string{
			strings.ToLower(webhookauth.HeaderTypeformSignature): webhookauth.SignTypeform(o.secret, body),
		}, nil
	case webhookauth.SchemeHMACSHA256:
		cfg := webhookauth.HMACConfig{Header: a.Header, Encoding: webhookauth.Encoding(a.Encoding), Prefix: a.Prefix}
		sig, err := webhookauth.SignHMAC(o.secret, cfg, body)
		if err != nil {
			return nil, fmt.Errorf("samples: source %s: %w", src.Name, err)
		}
		return map[string]string{strings.ToLower(a.Header): sig}, nil
	case webhookauth.SchemeBearer:
		return map[string]string{
			strings.ToLower(webhookauth.HeaderAuthorization): webhookauth.SignBearer(o.secret),
		}, nil
	case webhookauth.SchemeURLToken, webhookauth.SchemeFormstackHandshake:
		return map[string]string{}, nil
	default:
		return nil, fmt.Errorf("samples: source %s: unknown scheme", src.Name)
	}
}

// Query returns the query string a sender of src adds to the webhook URL:
// "token=<secret>" for a url-token source (Jotform), "" for every other
// scheme. Options as for Sign (WithSecret).
func Query(src Source, opts ...SignOption) string {
	if src.Scheme() != webhookauth.SchemeURLToken {
		return ""
	}
	var o signOptions
	if secrets := src.Definition.Auth.Secrets; len(secrets) > 0 {
		o.secret = secrets[0]
	}
	for _, opt := range opts {
		opt(&o)
	}
	return webhookauth.URLTokenQuery(o.secret)
}

// wrongSecret returns a secret of the right shape for src's scheme that src
// does not hold, for samples that must fail authentication.
func wrongSecret(src Source) string {
	if src.Scheme() == webhookauth.SchemeStandardWebhooks {
		return "whsec_bm90LXRoaXMtc291cmNlcy1rZXktMDAwMA==" // "not-this-sources-key-0000"
	}
	if src.Scheme() == webhookauth.SchemeURLToken {
		return "notThisSourcesUrlToken0000000000000000"
	}
	return "not-this-sources-secret-0000"
}

func defaultEventID(name string, body []byte, at time.Time) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
	h.Write([]byte{0})
	h.Write(body)
	return "msg_" + hex.EncodeToString(h.Sum(nil))[:24]
}

func lowerKeys(h map[string][]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			out[strings.ToLower(k)] = v[0]
		}
	}
	return out
}
