package webhookauth_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/webhookauth"
)

const (
	handshakeOld = "handshake-old-DO-NOT-PRINT-4711"
	handshakeNew = "handshake-new-DO-NOT-PRINT-4712"
	tokenOld     = "urltokenOldDoNotPrint0123456789abcdefXYZ"
	tokenNew     = "urltokenNewDoNotPrint0123456789abcdefXYZ"
)

func TestFormstackHandshake(t *testing.T) {
	v, err := webhookauth.NewFormstackHandshake([]string{handshakeNew, handshakeOld})
	require.NoError(t, err)
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	// API Gateway passes lower-case header names.
	formHdr := http.Header{"content-type": {"application/x-www-form-urlencoded; charset=utf-8"}}
	for _, tt := range []struct {
		name string
		h    http.Header
		body string
		want error
	}{
		{"json, current secret", jsonHdr, `{"FormID":"1","UniqueID":"2","HandshakeKey":"` + handshakeNew + `"}`, nil},
		{"json, previous secret (rotation)", jsonHdr, `{"HandshakeKey":"` + handshakeOld + `"}`, nil},
		{"no content type is json", http.Header{}, `{"HandshakeKey":"` + handshakeNew + `"}`, nil},
		{"url-encoded", formHdr, "FormID=1&UniqueID=2&HandshakeKey=" + handshakeNew + "&Name=x", nil},
		{"wrong secret", jsonHdr, `{"HandshakeKey":"handshake-wrong-0000000000000"}`, webhookauth.ErrNoMatchingSignature},
		{"field name differs in case", jsonHdr, `{"handshakekey":"` + handshakeNew + `"}`, webhookauth.ErrMissingSignature},
		{"no field", jsonHdr, `{"FormID":"1"}`, webhookauth.ErrMissingSignature},
		{"empty field", formHdr, "HandshakeKey=&FormID=1", webhookauth.ErrMissingSignature},
		{"null field", jsonHdr, `{"HandshakeKey":null}`, webhookauth.ErrMissingSignature},
		{"not a string", jsonHdr, `{"HandshakeKey":["` + handshakeNew + `"]}`, webhookauth.ErrMalformedSignature},
		{"repeated in a form", formHdr, "HandshakeKey=" + handshakeNew + "&HandshakeKey=" + handshakeNew, webhookauth.ErrMalformedSignature},
		{"not json", jsonHdr, "HandshakeKey=" + handshakeNew, webhookauth.ErrMalformedSignature},
		{"bad form encoding", formHdr, "HandshakeKey=%zz", webhookauth.ErrMalformedSignature},
		{"a prefix of the secret", jsonHdr, `{"HandshakeKey":"` + handshakeNew[:20] + `"}`, webhookauth.ErrNoMatchingSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.h, []byte(tt.body), time.Now())
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), "DO-NOT-PRINT")
		})
	}
	t.Run("secrets", func(t *testing.T) {
		_, err := webhookauth.NewFormstackHandshake([]string{"short"})
		assert.ErrorIs(t, err, webhookauth.ErrWeakSecret)
		_, err = webhookauth.NewFormstackHandshake(nil)
		assert.ErrorIs(t, err, webhookauth.ErrNoSecrets)
		_, err = webhookauth.NewFormstackHandshake([]string{"has a space in it 0123"})
		assert.ErrorIs(t, err, webhookauth.ErrInvalidSecret)
	})
}

func TestURLToken(t *testing.T) {
	v, err := webhookauth.NewURLToken([]string{tokenNew, tokenOld})
	require.NoError(t, err)
	for _, tt := range []struct {
		name  string
		query string
		want  error
	}{
		{"current token", webhookauth.URLTokenQuery(tokenNew), nil},
		{"previous token (rotation)", "a=1&token=" + tokenOld, nil},
		{"wrong token", "token=urltokenWrong00000000000000000000000000", webhookauth.ErrNoMatchingSignature},
		{"a prefix of the token", "token=" + tokenNew[:32], webhookauth.ErrNoMatchingSignature},
		{"no query", "", webhookauth.ErrMissingSignature},
		{"empty token", "token=", webhookauth.ErrMissingSignature},
		{"other parameter only", "Token=" + tokenNew, webhookauth.ErrMissingSignature},
		{"repeated", "token=" + tokenNew + "&token=" + tokenNew, webhookauth.ErrMalformedSignature},
		{"bad escape", "token=%zz", webhookauth.ErrMalformedSignature},
		{"too long", "x=" + strings.Repeat("a", 5000) + "&token=" + tokenNew, webhookauth.ErrMalformedSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhookauth.VerifyRequest(v, tt.query, http.Header{}, nil, time.Now())
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), "DoNotPrint")
		})
	}
	t.Run("Verify alone never accepts", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + tokenNew}}
		_, err := v.Verify(h, []byte("token="+tokenNew), time.Now())
		assert.ErrorIs(t, err, webhookauth.ErrMissingSignature)
	})
	t.Run("VerifyRequest uses Verify for header schemes", func(t *testing.T) {
		b, err := webhookauth.NewBearer([]string{tokenNew})
		require.NoError(t, err)
		_, err = webhookauth.VerifyRequest(b, "token="+tokenNew, http.Header{}, nil, time.Now())
		assert.ErrorIs(t, err, webhookauth.ErrMissingSignature, "a bearer source is not opened by a URL token")
	})
	t.Run("tokens", func(t *testing.T) {
		_, err := webhookauth.NewURLToken([]string{strings.Repeat("a", webhookauth.MinURLTokenLen-1)})
		assert.ErrorIs(t, err, webhookauth.ErrWeakSecret)
		_, err = webhookauth.NewURLToken([]string{strings.Repeat("a", 31) + "/+="})
		assert.ErrorIs(t, err, webhookauth.ErrInvalidSecret, "a token must travel in a URL unescaped")
		_, err = webhookauth.NewURLToken([]string{strings.Repeat("a", webhookauth.MinURLTokenLen)})
		assert.NoError(t, err)
	})
}

func TestFormVerifiersNeverPrintSecrets(t *testing.T) {
	hs, err := webhookauth.NewFormstackHandshake([]string{handshakeNew})
	require.NoError(t, err)
	ut, err := webhookauth.NewURLToken([]string{tokenNew})
	require.NoError(t, err)
	for name, v := range map[string]any{"handshake": hs, "url-token": ut, "handshake value": *hs, "url-token value": *ut} {
		var logBuf bytes.Buffer
		slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("v", slog.Any("v", v))
		for _, out := range []string{fmt.Sprint(v), fmt.Sprintf("%+v %#v %s %x %q", v, v, v, v, v), logBuf.String()} {
			assert.NotContains(t, out, "DO-NOT-PRINT", name)
			assert.NotContains(t, out, "DoNotPrint", name)
		}
	}
}
