package webhookauth_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// FuzzFormstackHandshake: the one verifier that reads the body never
// panics, fails only with a sentinel, and accepts a body only when its
// HandshakeKey is a configured secret.
func FuzzFormstackHandshake(f *testing.F) {
	f.Add(false, []byte(`{"HandshakeKey":"`+handshakeNew+`"}`))
	f.Add(true, []byte("HandshakeKey="+handshakeOld+"&FormID=1"))
	f.Add(false, []byte(`{"HandshakeKey":"\u0068andshake-new-DO-NOT-PRINT-4712"}`))
	f.Add(true, []byte("HandshakeKey=%zz"))
	v, err := webhookauth.NewFormstackHandshake([]string{handshakeNew, handshakeOld})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, form bool, body []byte) {
		h := http.Header{"Content-Type": {"application/json"}}
		if form {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		_, err := v.Verify(h, body, time.Now())
		if err != nil {
			if !isVerifyError(err) {
				t.Fatal("Verify returned a non-sentinel error")
			}
			return
		}
		if form {
			vals, perr := url.ParseQuery(string(body))
			if perr != nil || (vals.Get("HandshakeKey") != handshakeNew && vals.Get("HandshakeKey") != handshakeOld) {
				t.Fatal("accepted a form whose HandshakeKey is no secret")
			}
		}
	})
}

// FuzzURLToken: the query parser never panics, fails only with a
// sentinel, and accepts only a query whose one token is configured.
func FuzzURLToken(f *testing.F) {
	f.Add("token=" + tokenNew)
	f.Add("a=1&token=" + tokenOld + "&b")
	f.Add("token=%zz")
	f.Add(";token=" + tokenNew)
	v, err := webhookauth.NewURLToken([]string{tokenNew, tokenOld})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, err := webhookauth.VerifyRequest(v, q, http.Header{}, nil, time.Now())
		if err != nil {
			if !isVerifyError(err) {
				t.Fatal("VerifyQuery returned a non-sentinel error")
			}
			return
		}
		vals, perr := url.ParseQuery(q)
		if perr != nil || len(vals["token"]) != 1 || (vals.Get("token") != tokenNew && vals.Get("token") != tokenOld) {
			t.Fatal("accepted a query without a configured token")
		}
	})
}
