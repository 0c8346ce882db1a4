package resolve

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/ehr/ehrtest"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/smart"
	"github.com/novamed/bridge/pkg/source"
)

const (
	clinic   = "6f1c3a52-8e0b-4c1e-9a57-2d4b8e7f1a90"
	pseudKey = "dGVzdC1wc2V1ZG9ueW0ta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXM="
	scope    = "system/Patient.read system/Practitioner.read system/Encounter.read system/AuditEvent.read system/Appointment.read"
)

// fakeParams stands in for the SSM cache (a unit test of this package;
// the dispatch and end-to-end tests read real SSM through kumo).
type fakeParams map[string]string

func (f fakeParams) Get(_ context.Context, name string) (string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return "", params.ErrNotFound
}

type rig struct {
	sb *ehrtest.Server
	r  *Resolver
	p  fakeParams
}

func newRig(t *testing.T) *rig {
	t.Helper()
	sb := ehrtest.New(ehrtest.WithT(t))
	key, err := smart.GenerateKey(source.AlgES384, "")
	require.NoError(t, err)
	priv, err := key.MarshalJSON()
	require.NoError(t, err)
	sb.RegisterClient("bridge", smart.PublicJWKS(key), strings.Fields(scope)...)
	def := sb.Definition("bridge", scope, priv)
	data, err := json.Marshal(source.Definition{
		Format: source.FormatFHIRR4, FHIRServer: &def,
		Auth: source.Auth{Scheme: "hmac-sha256", Header: "X-Hub-Signature", Encoding: "hex", Prefix: "sha256=",
			Secrets: source.Secrets{"athena-webhook-secret-0123456789"}},
	})
	require.NoError(t, err)
	p := fakeParams{ParamSources + "/athena": string(data), ParamClinicID: clinic, ParamPseudonymKey: pseudKey}
	sb.MustPut(`{"resourceType":"Patient","id":"p-1","name":[{"family":"Zwirnbaum","given":["Oda"]}],
		"telecom":[{"system":"email","value":"oda.zwirnbaum@example.org"}],"birthDate":"1961-04-09"}`)
	sb.MustPut(`{"resourceType":"Patient","id":"p-2","name":[{"family":"Nomail","given":["Ida"]}],"birthDate":"1961-04-09"}`)
	sb.MustPut(`{"resourceType":"AuditEvent","id":"ae-1","entity":[{"what":{"reference":"Patient/p-1"}}]}`)
	sb.MustPut(`{"resourceType":"Encounter","id":"enc-1","status":"finished","subject":{"reference":"Patient/p-1"}}`)
	return &rig{sb: sb, r: New(p, ehr.NewPool()), p: p}
}

func reference(t *testing.T, ref string) string {
	t.Helper()
	body, err := queue.Message{
		ID: queue.RecordID(queue.EventID("athena", "", []byte(ref)), 0), Source: "athena", Kind: queue.KindReference,
		ReceivedAt: time.Now().UTC(), Stage: queue.StageDev, Reference: ref,
	}.Encode()
	require.NoError(t, err)
	return body
}

func TestResolve(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()

	byAudit, err := g.r.Resolve(ctx, reference(t, "AuditEvent/ae-1"))
	require.NoError(t, err)
	assert.Equal(t, novamed.KindPatient, byAudit.Kind)
	assert.Empty(t, byAudit.Reference)
	assert.False(t, byAudit.Deidentified, "the pipeline's guard de-identifies, after this")
	rec, _, err := novamed.DecodeRecord(byAudit.Kind, byAudit.Record)
	require.NoError(t, err)
	require.NoError(t, rec.Validate())
	assert.Equal(t, "Zwirnbaum", rec.Patient.LastName)
	assert.Equal(t, clinic, rec.Patient.ClinicID)

	// The same person reached another way is the same subject, with the
	// same digests: one NovaMed chart.
	byEncounter, err := g.r.Resolve(ctx, reference(t, "Encounter/enc-1"))
	require.NoError(t, err)
	direct, err := g.r.Resolve(ctx, reference(t, "Patient/p-1"))
	require.NoError(t, err)
	require.True(t, queue.ValidSubject(byAudit.Subject))
	assert.Equal(t, byAudit.Subject, byEncounter.Subject)
	assert.Equal(t, byAudit.Subject, direct.Subject)
	assert.Equal(t, byAudit.Digests, direct.Digests)
	key, _ := base64.StdEncoding.DecodeString(pseudKey)
	assert.Equal(t, queue.SubjectKey(key, "source", "athena", "Patient/p-1"), direct.Subject,
		"the subject a posted Patient/p-1 of this source would have")
	_, err = direct.Encode()
	assert.NoError(t, err, "a valid queue message")
}

func TestResolveOutcomes(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	outcome := func(ref string) *delivery.ResolveError {
		t.Helper()
		_, err := g.r.Resolve(ctx, reference(t, ref))
		var re *delivery.ResolveError
		require.True(t, errors.As(err, &re), "a ResolveError, got %v", err)
		assert.NotContains(t, re.Error(), "p-")
		return re
	}

	re := outcome("Patient/nobody")
	assert.Equal(t, queue.ClassHeld, re.Class)
	assert.Equal(t, CodeNotFoundInEHR, re.Code)
	assert.False(t, re.Retry)

	re = outcome("Patient/p-2")
	assert.Equal(t, queue.ClassHeld, re.Class, "fetched, but NovaMed cannot take it as it stands")
	assert.Equal(t, "missing_email", re.Code)
	assert.Equal(t, []string{"telecom"}, re.Fields)

	g.sb.FailNext(1, 503, 7*time.Second)
	re = outcome("Patient/p-1")
	assert.True(t, re.Retry)
	assert.Equal(t, 7*time.Second, re.RetryAfter)

	g.sb.FailTokenNext(1, 503, 0)
	g.sb.ExpireTokens()
	re = outcome("Patient/p-1")
	assert.True(t, re.Retry, "the token endpoint down is retried")

	delete(g.p, ParamSources+"/athena")
	re = outcome("Patient/p-1")
	assert.Equal(t, queue.ClassPermanent, re.Class)
	assert.Equal(t, CodeUnknownSource, re.Code)
}

func TestResolveNeedsAFHIRServer(t *testing.T) {
	g := newRig(t)
	data, err := json.Marshal(source.Definition{Format: source.FormatFHIRR4,
		Auth: source.Auth{Scheme: "bearer", Secrets: source.Secrets{"bearer-token-0123456789"}}})
	require.NoError(t, err)
	g.p[ParamSources+"/athena"] = string(data)
	_, err = g.r.Resolve(context.Background(), reference(t, "Patient/p-1"))
	var re *delivery.ResolveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, CodeNoFHIRServer, re.Code)
	assert.Zero(t, g.sb.TotalFetches())
}
