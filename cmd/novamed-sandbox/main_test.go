package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/novamed"
)

func TestRunServesUntilCancelled(t *testing.T) {
	canaries := filepath.Join(t.TempDir(), "canaries.txt")
	if err := os.WriteFile(canaries, []byte("\n  Quarrington  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const clinic = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	var logs logtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-api-key", "local-test-key", "-clinic-id", clinic, "-development", "-canaries", canaries}, outW, &logs)
		_ = outW.Close()
	}()

	banner := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(banner) < 3 {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && (k == "url" || k == "clinic id" || k == "api key") {
			banner[k] = strings.TrimSpace(v)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if banner["clinic id"] != clinic || banner["api key"] != "local-test-key" || !strings.HasPrefix(banner["url"], "http://127.0.0.1:") {
		t.Fatalf("banner: %v", banner)
	}

	c, err := novamed.NewClient(banner["url"], novamed.StaticKey(banner["api key"]))
	if err != nil {
		t.Fatal(err)
	}
	p := novamed.PatientRequest{ClinicID: clinic, FirstName: "Zebulon", LastName: "Quarrington", DateOfBirth: "1990-01-01", Email: "z@example.com"}
	if _, err := c.CreatePatient(ctx, p); err != nil {
		t.Fatalf("CreatePatient: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	l := logs.String()
	if !strings.Contains(l, "development violation") || !strings.Contains(l, "canary #0") {
		t.Error("the violation was not logged")
	}
	if strings.Contains(l, "Zebulon") || strings.Contains(l, "Quarrington") {
		t.Error("the log quotes a request value")
	}
	if !strings.Contains(l, "path=/api/external/patient") || !strings.Contains(l, "status=201") {
		t.Error("the request was not logged")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:0"},
		{"-addr", ":0"},
		{"-addr", "192.0.2.1:80"},
		{"-addr", "nonsense"},
		{"-clinic-id", "clinic-1"},
		{"-canaries", "/nonexistent/file"},
		{"-unknown-flag"},
		{"extra"},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, io.Discard, &stderr); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
