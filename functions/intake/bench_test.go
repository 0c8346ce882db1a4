package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/samples"
)

// The intake budget: the handler's own cost for one FHIR Patient should stay
// under three times the work no implementation can avoid, an HMAC over the
// signed content plus json.Unmarshal of the body. Each handler benchmark
// measures that baseline first and reports its ratio as x-baseline. The
// queue and the ledger are in-memory fakes (their time is network time);
// message encoding, logging and metrics are included.

// BenchmarkHandlerFHIRPatient: production (the record passes as is).
func BenchmarkHandlerFHIRPatient(b *testing.B) {
	benchHandler(b, queueStageProd, novamed.ProductionURL)
}

// BenchmarkHandlerFHIRPatientDeidentified: dev, with the environment guard.
func BenchmarkHandlerFHIRPatientDeidentified(b *testing.B) {
	benchHandler(b, "dev", "")
}

// BenchmarkBaselineHMACUnmarshal is the yardstick alone.
func BenchmarkBaselineHMACUnmarshal(b *testing.B) {
	baseline(b, loadEvent(b, "fhir-patient").Headers, []byte(loadEvent(b, "fhir-patient").Body))
}

const queueStageProd = "prod"

func benchHandler(b *testing.B, stage, target string) {
	ev := loadEvent(b, "fhir-patient")
	now := samples.EventTime(ev)
	h, err := New(Config{
		Stage: stage, TargetURL: target,
		Params: localParams(b), Queue: &fakeQueue{discard: true}, Ledger: &fakeLedger{alwaysNew: true},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics: metrics.New(io.Discard, map[string]string{"Stage": stage}),
		Now:     func() time.Time { return now },
	})
	require.NoError(b, err)
	ctx := context.Background()
	resp, err := h.Handle(ctx, ev)
	require.NoError(b, err)
	require.Equal(b, http.StatusAccepted, resp.StatusCode, resp.Body)

	// testing.Benchmark cannot run inside a benchmark (they share a
	// lock), so the baseline is timed by hand, for about 200ms.
	op := newBaselineOp(b, ev.Headers, []byte(ev.Body))
	var baseN int
	baseStart := time.Now()
	for time.Since(baseStart) < 200*time.Millisecond {
		for range 100 {
			op()
		}
		baseN += 100
	}
	baseNs := float64(time.Since(baseStart).Nanoseconds()) / float64(baseN)

	b.SetBytes(int64(len(ev.Body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if resp, _ := h.Handle(ctx, ev); resp.StatusCode != http.StatusAccepted {
			b.Fatal(resp.StatusCode)
		}
	}
	if b.N > 0 {
		perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(perOp/baseNs, "x-baseline")
		b.ReportMetric(baseNs, "baseline-ns/op")
	}
}

// baseline runs the yardstick as a benchmark of its own.
func baseline(b *testing.B, headers map[string]string, body []byte) {
	op := newBaselineOp(b, headers, body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
}

// newBaselineOp returns the yardstick: verify the Standard Webhooks HMAC of
// the sample and decode its body into a generic map.
func newBaselineOp(b *testing.B, headers map[string]string, body []byte) func() {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(
		"whsec_bG9jYWwtdGVzdC1rZXk6IGVoci1maGlyIHYxICEh", "whsec_"))
	require.NoError(b, err)
	id, ts := headers["webhook-id"], headers["webhook-timestamp"]
	want, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(headers["webhook-signature"], "v1,"))
	require.NoError(b, err)
	return func() {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		if !hmac.Equal(m.Sum(nil), want) {
			b.Fatal("signature")
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
