package source_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/novamed/bridge/pkg/source"
)

var (
	keysOnce sync.Once
	ecKey    *ecdsa.PrivateKey
	rsaKey   *rsa.PrivateKey
)

func testKeys(t *testing.T) (*ecdsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return ecKey, rsaKey
}

// jwkMap returns the private JWK of key as a JSON object map.
func jwkMap(t *testing.T, key any, kid string) map[string]any {
	t.Helper()
	data, err := jose.JSONWebKey{Key: key, KeyID: kid}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fhirDef returns a fhir-r4 definition with a fhir_server built from fs.
func fhirDef(t *testing.T, fs map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"format":      "fhir-r4",
		"auth":        map[string]any{"scheme": "bearer", "secrets": []string{"bearer-token-0123456789"}},
		"fhir_server": fs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func validFHIRServer(t *testing.T, key any) map[string]any {
	return map[string]any{
		"base_url":    "https://fhir.example.org/r4/",
		"token_url":   "https://auth.example.org/oauth2/token",
		"client_id":   "bridge-client-0001",
		"scope":       "system/Patient.read system/Encounter.rs",
		"private_key": jwkMap(t, key, "bridge-key-1"),
	}
}

func TestParseFHIRServerValid(t *testing.T) {
	ec, rk := testKeys(t)
	for _, tc := range []struct {
		name    string
		key     crypto.Signer
		wantAlg string
	}{
		{"ec", ec, source.AlgES384},
		{"rsa", rk, source.AlgRS384},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := source.Parse("athena", fhirDef(t, validFHIRServer(t, tc.key)))
			if err != nil {
				t.Fatal(err)
			}
			fs := src.FHIRServer
			if fs == nil {
				t.Fatal("FHIRServer is nil")
			}
			if fs.BaseURL != "https://fhir.example.org/r4" || fs.TokenURL != "https://auth.example.org/oauth2/token" ||
				fs.ClientID != "bridge-client-0001" || fs.Scope() != "system/Patient.read system/Encounter.rs" {
				t.Errorf("parsed %v", fs)
			}
			if fs.Algorithm() != tc.wantAlg || fs.KeyID() != "bridge-key-1" {
				t.Errorf("alg %s kid %s", fs.Algorithm(), fs.KeyID())
			}
			if !fs.Signer().Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.key.Public()) {
				t.Error("Signer is not the definition's key")
			}
			pub := fs.PublicJWK()
			if !pub.IsPublic() || pub.KeyID != "bridge-key-1" {
				t.Error("PublicJWK is not the public half with the kid")
			}
			sk := fs.SigningKey()
			if string(sk.Algorithm) != tc.wantAlg {
				t.Errorf("SigningKey alg %s", sk.Algorithm)
			}
		})
	}
}

func TestParseWithoutFHIRServer(t *testing.T) {
	src, err := source.Parse("plain", []byte(`{"format":"fhir-r4","auth":{"scheme":"bearer","secrets":["bearer-token-0123456789"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if src.FHIRServer != nil {
		t.Error("FHIRServer set without fhir_server")
	}
}

func TestParseFHIRServerInvalid(t *testing.T) {
	ec, rk := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK := jwkMap(t, ec, "bridge-key-1")
	rsaJWK := jwkMap(t, rk, "bridge-key-1")
	otherJWK := jwkMap(t, other, "bridge-key-1")

	with := func(f func(fs map[string]any)) []byte {
		fs := validFHIRServer(t, ec)
		fs["private_key"] = maps.Clone(ecJWK)
		f(fs)
		return fhirDef(t, fs)
	}
	key := func(f func(k map[string]any)) []byte {
		return with(func(fs map[string]any) { f(fs["private_key"].(map[string]any)) })
	}

	tests := []struct {
		name  string
		data  []byte
		field string
	}{
		{"form format", func() []byte {
			var m map[string]any
			_ = json.Unmarshal(with(func(map[string]any) {}), &m)
			m["format"] = "form"
			d, _ := json.Marshal(m)
			return d
		}(), "fhir_server"},
		{"not an object", []byte(`{"format":"fhir-r4","auth":{"scheme":"bearer","secrets":["bearer-token-0123456789"]},"fhir_server":"x"}`), "fhir_server"},
		{"unknown key", with(func(fs map[string]any) { fs["audience"] = "x" }), "fhir_server.audience"},
		{"case-folded key", with(func(fs map[string]any) { fs["Base_URL"] = fs["base_url"]; delete(fs, "base_url") }), "fhir_server.Base_URL"},
		{"base_url missing", with(func(fs map[string]any) { delete(fs, "base_url") }), "fhir_server.base_url"},
		{"base_url http", with(func(fs map[string]any) { fs["base_url"] = "http://fhir.example.org/r4" }), "fhir_server.base_url"},
		{"base_url ftp", with(func(fs map[string]any) { fs["base_url"] = "ftp://fhir.example.org/r4" }), "fhir_server.base_url"},
		{"base_url relative", with(func(fs map[string]any) { fs["base_url"] = "/r4" }), "fhir_server.base_url"},
		{"base_url user info", with(func(fs map[string]any) { fs["base_url"] = "https://u:p@fhir.example.org/r4" }), "fhir_server.base_url"},
		{"base_url query", with(func(fs map[string]any) { fs["base_url"] = "https://fhir.example.org/r4?x=1" }), "fhir_server.base_url"},
		{"token_url http", with(func(fs map[string]any) { fs["token_url"] = "http://auth.example.org/token" }), "fhir_server.token_url"},
		{"token_url missing", with(func(fs map[string]any) { delete(fs, "token_url") }), "fhir_server.token_url"},
		{"client_id empty", with(func(fs map[string]any) { fs["client_id"] = "" }), "fhir_server.client_id"},
		{"client_id space", with(func(fs map[string]any) { fs["client_id"] = "a b" }), "fhir_server.client_id"},
		{"scope missing", with(func(fs map[string]any) { delete(fs, "scope") }), "fhir_server.scope"},
		{"scope user", with(func(fs map[string]any) { fs["scope"] = "user/Patient.read" }), "fhir_server.scope"},
		{"scope write", with(func(fs map[string]any) { fs["scope"] = "system/Patient.write" }), "fhir_server.scope"},
		{"scope v2 create", with(func(fs map[string]any) { fs["scope"] = "system/Patient.cruds" }), "fhir_server.scope"},
		{"scope double space", with(func(fs map[string]any) { fs["scope"] = "system/Patient.read  system/Encounter.read" }), "fhir_server.scope"},
		{"scope repeated", with(func(fs map[string]any) { fs["scope"] = "system/Patient.read system/Patient.read" }), "fhir_server.scope"},
		{"scope launch", with(func(fs map[string]any) { fs["scope"] = "system/Patient.read launch" }), "fhir_server.scope"},
		{"key missing", with(func(fs map[string]any) { delete(fs, "private_key") }), "fhir_server.private_key"},
		{"key string", with(func(fs map[string]any) { fs["private_key"] = "-----BEGIN PRIVATE KEY-----" }), "fhir_server.private_key"},
		{"key public only", key(func(k map[string]any) { delete(k, "d") }), "fhir_server.private_key.d"},
		{"key no kid", key(func(k map[string]any) { delete(k, "kid") }), "fhir_server.private_key.kid"},
		{"key wrong alg", key(func(k map[string]any) { k["alg"] = "ES256" }), "fhir_server.private_key.alg"},
		{"key use enc", key(func(k map[string]any) { k["use"] = "enc" }), "fhir_server.private_key.use"},
		{"key unknown member", key(func(k map[string]any) { k["x5u"] = "https://example.org" }), "fhir_server.private_key.x5u"},
		{"key symmetric", key(func(k map[string]any) {
			clear(k)
			k["kty"], k["kid"], k["k"] = "oct", "k1", "c2VjcmV0c2VjcmV0c2VjcmV0"
		}), "fhir_server.private_key.k"},
		{"key okp", key(func(k map[string]any) { k["kty"] = "OKP" }), "fhir_server.private_key.kty"},
		{"key P-256", key(func(k map[string]any) { clear(k); maps.Copy(k, jwkMap(t, p256, "k1")) }), "fhir_server.private_key.crv"},
		{"key d of another key", key(func(k map[string]any) { k["d"] = otherJWK["d"] }), "fhir_server.private_key"},
		{"key d truncated", key(func(k map[string]any) { k["d"] = k["d"].(string)[:20] }), "fhir_server.private_key"},
		{"rsa too small", key(func(k map[string]any) { clear(k); maps.Copy(k, jwkMap(t, small, "k1")) }), "fhir_server.private_key.n"},
		{"rsa wrong alg", key(func(k map[string]any) { clear(k); maps.Copy(k, rsaJWK); k["alg"] = "RS256" }), "fhir_server.private_key.alg"},
		{"rsa p of another key", key(func(k map[string]any) {
			clear(k)
			maps.Copy(k, rsaJWK)
			k["p"] = jwkMap(t, small, "k1")["p"]
		}), "fhir_server.private_key"},
	}
	secrets := []string{}
	for _, m := range []map[string]any{ecJWK, rsaJWK, otherJWK} {
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if v, ok := m[member].(string); ok {
				secrets = append(secrets, v)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.Parse("athena", tt.data)
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *source.Error", err)
			}
			if se.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", se.Field, tt.field, err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), s[:16]) {
					t.Fatal("error holds key material")
				}
			}
		})
	}
}

func TestParseFHIRServerLoopbackHTTP(t *testing.T) {
	ec, _ := testKeys(t)
	for _, host := range []string{"127.0.0.1:8080", "localhost:9", "[::1]:8443"} {
		fs := validFHIRServer(t, ec)
		fs["base_url"] = "http://" + host + "/fhir"
		fs["token_url"] = "http://" + host + "/token"
		if _, err := source.Parse("local", fhirDef(t, fs)); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestFHIRServerNeverPrintsKey(t *testing.T) {
	ec, rk := testKeys(t)
	for _, key := range []any{ec, rk} {
		fsDef := validFHIRServer(t, key)
		data := fhirDef(t, fsDef)
		d := fsDef["private_key"].(map[string]any)["d"].(string)

		src, err := source.Parse("athena", data)
		if err != nil {
			t.Fatal(err)
		}
		var def source.Definition
		if err := json.Unmarshal(data, &def); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Info("x", "src", src, "fs", src.FHIRServer, "def", def, "fsdef", def.FHIRServer)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
			fmt.Fprintf(&buf, verb+"\n", src)
			fmt.Fprintf(&buf, verb+"\n", *src)
			fmt.Fprintf(&buf, verb+"\n", src.FHIRServer)
			fmt.Fprintf(&buf, verb+"\n", *src.FHIRServer)
			fmt.Fprintf(&buf, verb+"\n", def)
			fmt.Fprintf(&buf, verb+"\n", *def.FHIRServer)
		}
		if strings.Contains(buf.String(), d) || strings.Contains(buf.String(), d[:16]) {
			t.Fatal("printed or logged output holds the private key")
		}
		if !strings.Contains(buf.String(), "bridge-client-0001") {
			t.Error("output does not describe the server at all")
		}
		// The definition still marshals the key, to be stored.
		out, err := json.Marshal(def)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), d) {
			t.Error("Definition does not marshal the private key")
		}
	}
}

func TestFHIRServerEqual(t *testing.T) {
	ec, rk := testKeys(t)
	parse := func(fs map[string]any) *source.FHIRServer {
		src, err := source.Parse("athena", fhirDef(t, fs))
		if err != nil {
			t.Fatal(err)
		}
		return src.FHIRServer
	}
	a, b := parse(validFHIRServer(t, ec)), parse(validFHIRServer(t, ec))
	if !a.Equal(b) || a == b {
		t.Error("two parses of one definition are not Equal")
	}
	for name, change := range map[string]func(fs map[string]any){
		"key":       func(fs map[string]any) { fs["private_key"] = jwkMap(t, rk, "bridge-key-1") },
		"kid":       func(fs map[string]any) { fs["private_key"].(map[string]any)["kid"] = "bridge-key-2" },
		"scope":     func(fs map[string]any) { fs["scope"] = "system/Patient.read" },
		"client_id": func(fs map[string]any) { fs["client_id"] = "other" },
		"base_url":  func(fs map[string]any) { fs["base_url"] = "https://fhir.example.org/r5" },
		"token_url": func(fs map[string]any) { fs["token_url"] = "https://auth.example.org/t2" },
	} {
		fs := validFHIRServer(t, ec)
		change(fs)
		if a.Equal(parse(fs)) {
			t.Errorf("a different %s is Equal", name)
		}
	}
	if a.Equal(nil) {
		t.Error("Equal(nil)")
	}
}
