package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
)

// benchLatency is the sandbox's answer time in the benchmarks.
const benchLatency = 50 * time.Millisecond

// batchEvent builds an event of n fresh records (new ids: never duplicates).
func batchEvent(b testing.TB, tag string, n int) events.SQSEvent {
	var ev events.SQSEvent
	for i, m := range patients(b, tag, n) {
		body, err := m.Encode()
		if err != nil {
			b.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("%s-%d", tag, i), ReceiptHandle: "rh", Body: body,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	return ev
}

// BenchmarkBatchOf10 delivers a batch of 10 records against a sandbox that
// answers in 50 ms, beside the baseline of 10 sequential calls. The
// "latencies/op" metric is the time of one operation in sandbox latencies:
// close to 1 for the concurrent batch, 10 for the sequential baseline.
func BenchmarkBatchOf10(b *testing.B) {
	b.Run("dispatch-batch", func(b *testing.B) {
		e := newEnv(b, envOptions{})
		nm := newSandbox(b)
		nm.SetLatency(benchLatency)
		h := e.handler(e.config("dev", nm.URL), nil)
		// Warm the parameter cache and the connections, as a warm Lambda is.
		if _, err := h.Handle(context.Background(), batchEvent(b, "warm", 10)); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			ev := batchEvent(b, fmt.Sprintf("bench-%d", i), 10)
			b.StartTimer()
			resp, err := h.Handle(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				b.Fatalf("batch failed: %v, %d failures", err, len(resp.BatchItemFailures))
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(benchLatency), "latencies/op")
	})
	b.Run("sequential-baseline", func(b *testing.B) {
		nm := newSandbox(b)
		nm.SetLatency(benchLatency)
		c, err := novamed.NewClient(nm.URL, novamed.StaticKey(apiKeyV1))
		if err != nil {
			b.Fatal(err)
		}
		rec, _, err := novamed.DecodeRecord(novamed.KindPatient, patientJSON("Ottoline", "Quarterfield", "oq@mailbox.example"))
		if err != nil {
			b.Fatal(err)
		}
		rec.Patient.ClinicID = devClinic
		for b.Loop() {
			for range 10 {
				if _, err := c.Create(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(benchLatency), "latencies/op")
	})
}

// BenchmarkSSMCallsPer1000Records delivers 1,000 records (100 batches of
// 10) from a cold start and reports the SSM calls made: the target is one
// per cold start or TTL, not one per record.
func BenchmarkSSMCallsPer1000Records(b *testing.B) {
	e := newEnv(b, envOptions{})
	nm := newSandbox(b)
	var calls int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		counting := &countingSSM{SSMAPI: e.ssm}
		cache, err := params.New(counting, e.prefix, params.WithNames(ParamAPIKey, ParamClinicID, ParamPseudonymKey))
		if err != nil {
			b.Fatal(err)
		}
		e.cache = cache // a cold start
		h := e.handler(e.config("dev", nm.URL), nil)
		evs := make([]events.SQSEvent, 100)
		for j := range evs {
			evs[j] = batchEvent(b, fmt.Sprintf("ssm-%d-%d", i, j), 10)
		}
		b.StartTimer()
		for _, ev := range evs {
			resp, err := h.Handle(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				b.Fatalf("batch failed: %v, %d failures", err, len(resp.BatchItemFailures))
			}
		}
		calls += counting.calls.Load()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "ssm-calls/1000-records")
}
