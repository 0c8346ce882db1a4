package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/smart"
	"github.com/novamed/bridge/pkg/source"
)

func TestRunServesAFetchableSandbox(t *testing.T) {
	dir := t.TempDir()
	key, err := smart.GenerateKey(source.AlgES384, "k1")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(smart.PublicJWKS(key))
	jwksPath := filepath.Join(dir, "jwks.json")
	seedPath := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	seed := `{"resourceType":"Bundle","type":"collection","entry":[
	  {"resource":{"resourceType":"Patient","id":"p-77","name":[{"family":"Quillfeather-Abernathy"}]}},
	  {"resource":{"resourceType":"AuditEvent","id":"ae-1","entity":[{"what":{"reference":"Patient/p-77"}}]}}]}`
	if err := os.WriteFile(seedPath, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	var logs logtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-client-id", "bridge", "-jwks", jwksPath, "-resources", seedPath}, outW, &logs)
		_ = outW.Close()
	}()
	banner := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(banner) < 4 {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && (k == "base_url" || k == "token_url" || k == "client_id" || k == "resources") {
			banner[k] = strings.TrimSpace(v)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if banner["client_id"] != "bridge" || banner["resources"] != "2" {
		t.Fatalf("banner %v", banner)
	}

	priv, _ := key.MarshalJSON()
	data, _ := json.Marshal(source.Definition{
		Format: source.FormatFHIRR4,
		Auth:   source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}},
		FHIRServer: &source.FHIRServerDefinition{BaseURL: banner["base_url"], TokenURL: banner["token_url"],
			ClientID: "bridge", Scope: "system/Patient.read system/AuditEvent.read", PrivateKey: priv},
	})
	src, err := source.Parse("local", data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ehr.New(src.FHIRServer)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Fetch(ctx, "AuditEvent/ae-1")
	if err != nil || res.ID != "p-77" {
		t.Fatalf("Fetch: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l := logs.String()
	if !strings.Contains(l, "tokens_issued=1") || strings.Contains(l, "Quillfeather") || strings.Contains(l, "p-77") {
		t.Errorf("log: %s", l)
	}
}

func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	key, _ := smart.GenerateKey(source.AlgES384, "k1")
	priv, _ := json.Marshal(map[string]any{"keys": []any{key}})
	privPath := filepath.Join(dir, "priv.json")
	_ = os.WriteFile(privPath, priv, 0o600)
	pub, _ := json.Marshal(smart.PublicJWKS(key))
	pubPath := filepath.Join(dir, "pub.json")
	_ = os.WriteFile(pubPath, pub, 0o600)
	for _, args := range [][]string{
		{"-jwks", pubPath},
		{"-client-id", "c"},
		{"-client-id", "c", "-jwks", privPath},
		{"-client-id", "c", "-jwks", pubPath, "-addr", "0.0.0.0:0"},
		{"-client-id", "c", "-jwks", pubPath, "-resources", pubPath},
		{"-client-id", "c", "-jwks", pubPath, "extra"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
