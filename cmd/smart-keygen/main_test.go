package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/novamed/bridge/pkg/source"
)

// parseSource puts priv into a definition as fhir_server.private_key.
func parseSource(t *testing.T, priv json.RawMessage) *source.FHIRServer {
	t.Helper()
	def := map[string]any{
		"format": "fhir-r4",
		"auth":   map[string]any{"scheme": "bearer", "secrets": []string{"bearer-token-0123456789"}},
		"fhir_server": map[string]any{
			"base_url": "https://fhir.example.org/r4", "token_url": "https://auth.example.org/token",
			"client_id": "bridge", "scope": "system/Patient.read", "private_key": priv,
		},
	}
	data, _ := json.Marshal(def)
	src, err := source.Parse("athena", data)
	if err != nil {
		t.Fatal(err)
	}
	return src.FHIRServer
}

// checkPair signs with the parsed private key and verifies with the JWKS.
func checkPair(t *testing.T, fs *source.FHIRServer, jwksData []byte, alg string) {
	t.Helper()
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(jwksData, &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 1 || !jwks.Keys[0].IsPublic() || jwks.Keys[0].KeyID != fs.KeyID() ||
		jwks.Keys[0].Algorithm != alg || jwks.Keys[0].Use != "sig" {
		t.Fatalf("JWKS %+v", jwks.Keys)
	}
	if bytes.Contains(jwksData, []byte(`"d"`)) {
		t.Fatal("JWKS holds a private member")
	}
	signer, err := jose.NewSigner(fs.SigningKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "bridge"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatal(err)
	}
	keys := jwks.Key(parsed.Headers[0].KeyID)
	var c jwt.Claims
	if len(keys) != 1 || parsed.Claims(keys[0].Key, &c) != nil || c.Issuer != "bridge" {
		t.Fatal("the JWKS does not verify what the private key signs")
	}
}

func TestStdout(t *testing.T) {
	for _, alg := range []string{"ES384", "RS384"} {
		t.Run(alg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run([]string{"-alg", alg}, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			var out struct {
				PrivateKey json.RawMessage `json:"private_key"`
				JWKS       json.RawMessage `json:"jwks"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			fs := parseSource(t, out.PrivateKey)
			if fs.Algorithm() != alg || len(fs.KeyID()) != 43 { // base64url SHA-256 thumbprint
				t.Errorf("alg %s kid %q", fs.Algorithm(), fs.KeyID())
			}
			checkPair(t, fs, out.JWKS, alg)
		})
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "key.json"), filepath.Join(dir, "jwks.json")
	var stdout bytes.Buffer
	if err := run([]string{"-kid", "bridge-2026-12", "-private", priv, "-jwks", pub}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(priv)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file mode %v (%v)", st.Mode(), err)
	}
	privData, _ := os.ReadFile(priv)
	jwksData, _ := os.ReadFile(pub)
	fs := parseSource(t, privData)
	if fs.KeyID() != "bridge-2026-12" {
		t.Errorf("kid %q", fs.KeyID())
	}
	checkPair(t, fs, jwksData, "ES384")
	var m map[string]string
	_ = json.Unmarshal(privData, &m)
	if strings.Contains(stdout.String(), m["d"]) {
		t.Error("stdout holds the private key")
	}
	// Never overwrites.
	if err := run([]string{"-private", priv, "-jwks", filepath.Join(dir, "other.json")}, &stdout, &bytes.Buffer{}); err == nil {
		t.Error("overwrote the private key file")
	}
	after, _ := os.ReadFile(priv)
	if !bytes.Equal(after, privData) {
		t.Error("private key file changed")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-alg", "ES256"}, {"-alg", "HS256"}, {"-private", "x"}, {"-jwks", "y"}, {"extra"},
	} {
		var stdout bytes.Buffer
		if err := run(args, &stdout, &bytes.Buffer{}); err == nil || stdout.Len() != 0 {
			t.Errorf("%v: err %v, stdout %d bytes", args, err, stdout.Len())
		}
	}
}
