package smart

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/ehr/ehrtest"
	"github.com/novamed/bridge/pkg/source"
)

// TestConcurrentCallersShareOneRequest holds the sandbox's token endpoint
// until every caller is queued behind the first request, then releases it:
// one request, one token for all.
func TestConcurrentCallersShareOneRequest(t *testing.T) {
	sb := ehrtest.New(ehrtest.WithT(t))
	key, err := GenerateKey(source.AlgES384, "")
	if err != nil {
		t.Fatal(err)
	}
	sb.RegisterClient("c1", PublicJWKS(key), "system/Patient.read")
	priv, _ := key.MarshalJSON()
	def := sb.Definition("c1", "system/Patient.read", priv)
	data, _ := json.Marshal(source.Definition{
		Format: source.FormatFHIRR4, FHIRServer: &def,
		Auth: source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}},
	})
	src, err := source.Parse("athena", data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(src.FHIRServer)
	if err != nil {
		t.Fatal(err)
	}

	release := sb.HoldTokens()
	const callers = 16
	tokens := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { tokens[i], errs[i] = c.Token(context.Background()) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := -1
		if c.inflight != nil {
			n = c.inflight.waiters
		}
		c.mu.Unlock()
		if n == callers-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiters = %d, want %d", n, callers-1)
		}
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != tokens[0] || !strings.HasPrefix(tokens[i], "ehrsbx_") {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	if sb.TokenRequests() != 1 {
		t.Errorf("token requests = %d, want 1", sb.TokenRequests())
	}
}
