package samples_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/samples"
	"github.com/novamed/bridge/pkg/source"
	"github.com/novamed/bridge/pkg/webhookauth"
)

var sourcesDir = filepath.Join("..", "..", "events", "sources")

var signedAt = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

func loadSources(t *testing.T) []samples.Source {
	t.Helper()
	srcs, err := samples.LoadSources(sourcesDir)
	require.NoError(t, err)
	return srcs
}

func toHeader(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// TestSignVerifies signs a body for every local source and checks it with
// the source's own verifier, as intake will; a changed body, a wrong secret
// and a stale time fail.
func TestSignVerifies(t *testing.T) {
	srcs := loadSources(t)
	schemes := map[string]bool{}
	for _, s := range srcs {
		t.Run(s.Name, func(t *testing.T) {
			schemes[s.Scheme()] = true
			parsed, err := source.Parse(s.Name, s.JSON)
			require.NoError(t, err)
			body := []byte(`{"resourceType":"Patient"}`)
			if s.Scheme() == webhookauth.SchemeFormstackHandshake {
				// The secret travels in the body: the sender puts it there.
				body = []byte(`{"HandshakeKey":"` + s.Definition.Auth.Secrets[0] + `"}`)
			}

			h, err := samples.Sign(s, body, signedAt)
			require.NoError(t, err)
			for k := range h {
				assert.Equal(t, strings.ToLower(k), k, "API Gateway passes lower-case names")
			}
			// A url-token source's token travels in the query.
			v, err := webhookauth.VerifyRequest(parsed.Verifier, samples.Query(s), toHeader(h), body, signedAt)
			require.NoError(t, err)
			if s.Scheme() == webhookauth.SchemeStandardWebhooks {
				assert.Equal(t, h["webhook-id"], v.EventID)
				again, err := samples.Sign(s, body, signedAt)
				require.NoError(t, err)
				assert.Equal(t, h, again, "the same request at the same time signs the same")
				_, err = parsed.Verifier.Verify(toHeader(h), body, signedAt.Add(10*time.Minute))
				assert.ErrorIs(t, err, webhookauth.ErrTimestampOutOfTolerance)
				h2, err := samples.Sign(s, body, signedAt, samples.WithEventID("msg_custom"))
				require.NoError(t, err)
				assert.Equal(t, "msg_custom", h2["webhook-id"])
			} else if s.Scheme() == webhookauth.SchemeURLToken {
				assert.Empty(t, h, "a URL token is no header")
			} else if s.Scheme() != webhookauth.SchemeBearer && s.Scheme() != webhookauth.SchemeFormstackHandshake {
				_, err = parsed.Verifier.Verify(toHeader(h), []byte(`{"resourceType":"Patient "}`), signedAt)
				assert.ErrorIs(t, err, webhookauth.ErrNoMatchingSignature, "the signature covers the body")
			}

			wrong := "a-secret-this-source-does-not-hold"
			if s.Scheme() == webhookauth.SchemeStandardWebhooks {
				wrong = "whsec_YS1zZWNyZXQtdGhpcy1zb3VyY2UtZG9lcy1ub3Q="
			}
			h, err = samples.Sign(s, body, signedAt, samples.WithSecret(wrong))
			require.NoError(t, err)
			if s.Scheme() == webhookauth.SchemeFormstackHandshake {
				body = []byte(`{"HandshakeKey":"` + wrong + `"}`)
			}
			_, err = webhookauth.VerifyRequest(parsed.Verifier, samples.Query(s, samples.WithSecret(wrong)), toHeader(h), body, signedAt)
			assert.ErrorIs(t, err, webhookauth.ErrNoMatchingSignature)
		})
	}
	for _, scheme := range []string{webhookauth.SchemeStandardWebhooks, webhookauth.SchemeTypeform,
		webhookauth.SchemeHMACSHA256, webhookauth.SchemeBearer, webhookauth.SchemeFormstackHandshake, webhookauth.SchemeURLToken} {
		assert.True(t, schemes[scheme], "a local source uses %s", scheme)
	}
}

func TestSourceNeverPrintsSecrets(t *testing.T) {
	for _, s := range loadSources(t) {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "source", s)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "source", s)
		out := fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s) + buf.String()
		for i, secret := range s.Definition.Auth.Secrets {
			assert.NotContains(t, out, secret, "secret %d of %s printed", i, s.Name)
		}
		assert.Contains(t, out, s.Name)
	}
}

func TestLoadSourcesErrors(t *testing.T) {
	_, err := samples.LoadSources(t.TempDir())
	assert.ErrorIs(t, err, samples.ErrNoSources)

	dir := t.TempDir()
	const secret = "whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="
	bad := `{"format":"fhir-r4","auth":{"scheme":"standard-webhooks","secrets":["` + secret + `"],"header":"X"}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o600))
	_, err = samples.LoadSources(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.json")
	assert.Contains(t, err.Error(), "auth.header")
	assert.NotContains(t, err.Error(), secret)
}

// TestTemplates checks that every template builds, that the signed ones
// name a local source, and that every status of the design's table that a
// static request can produce has a sample.
func TestTemplates(t *testing.T) {
	srcs := loadSources(t)
	ts, err := samples.Templates()
	require.NoError(t, err)
	statuses := map[int]bool{}
	for _, tmpl := range ts {
		statuses[tmpl.Expect.Status] = true
		if tmpl.Signature != samples.SignatureNone {
			_, ok := samples.Find(srcs, tmpl.Source)
			assert.True(t, ok, "%s: source %s is a local source", tmpl.Name, tmpl.Source)
		}
		ev, err := tmpl.Event(srcs, signedAt)
		require.NoError(t, err, tmpl.Name)
		assert.Equal(t, signedAt, samples.EventTime(ev))
		data, err := samples.EncodeEvent(ev)
		require.NoError(t, err)
		back, err := samples.DecodeEvent(data)
		require.NoError(t, err)
		assert.Equal(t, ev, back, "%s: the event file round-trips", tmpl.Name)
		assert.NotEmpty(t, tmpl.Description)
	}
	for _, s := range []int{200, 202, 400, 401, 404, 405, 413, 415} {
		assert.True(t, statuses[s], "a sample answers %d", s)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	srcs := loadSources(t)
	a, err := samples.Build(srcs, signedAt)
	require.NoError(t, err)
	b, err := samples.Build(srcs, signedAt)
	require.NoError(t, err)
	require.Equal(t, len(a), len(b))
	for i := range a {
		assert.Equal(t, a[i].JSON, b[i].JSON, a[i].FileName())
	}
	later, err := samples.Build(srcs, signedAt.Add(time.Hour))
	require.NoError(t, err)
	assert.NotEqual(t, a[0].JSON, later[0].JSON, "signing time is in the event")
}
