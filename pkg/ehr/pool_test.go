package ehr_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/source"
)

func TestPoolKeepsTheFetcherWhileTheDefinitionIsEqual(t *testing.T) {
	e := setup(t, scope)
	def := e.sb.Definition("bridge", scope, e.priv)
	parse := func(d source.FHIRServerDefinition) *source.FHIRServer {
		data, _ := json.Marshal(source.Definition{
			Format: source.FormatFHIRR4, FHIRServer: &d,
			Auth: source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}},
		})
		src, err := source.Parse("athena", data)
		if err != nil {
			t.Fatal(err)
		}
		return src.FHIRServer
	}
	p := ehr.NewPool()
	f1, err := p.Fetcher("athena", parse(def))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f1.Fetch(context.Background(), "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	// The parameter is re-read: an equal definition keeps the token.
	f2, _ := p.Fetcher("athena", parse(def))
	if _, err := f2.Fetch(context.Background(), "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	if f2 != f1 || e.sb.TokenRequests() != 1 {
		t.Errorf("same fetcher %v, token requests %d", f2 == f1, e.sb.TokenRequests())
	}
	// A changed scope makes a new fetcher (and a new token).
	def.Scope = "system/Patient.read"
	f3, _ := p.Fetcher("athena", parse(def))
	if f3 == f1 {
		t.Fatal("changed definition kept the old fetcher")
	}
	if _, err := f3.Fetch(context.Background(), "Patient/"+patientID); err != nil {
		t.Fatal(err)
	}
	if e.sb.TokenRequests() != 2 {
		t.Errorf("token requests %d, want 2", e.sb.TokenRequests())
	}
	if _, err := p.Fetcher("other", nil); !errors.Is(err, ehr.ErrConfig) {
		t.Errorf("nil server: %v", err)
	}
}
