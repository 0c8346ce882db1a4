package redrive_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/redrive"
)

const devClinic = "0b8e2c44-5d1f-4a7e-9e3b-6c2d1f0a8b97"

// putGuardParams stores a pseudonym key and clinic id under a prefix of
// the test's own and returns the prefix.
func (e *env) putGuardParams() string {
	e.t.Helper()
	prefix := "/novamed-bridge/" + e.prefix
	for name, p := range map[string]struct {
		v   string
		typ ssmtypes.ParameterType
	}{
		"pseudonym-key": {"c2VjcmV0LWRldi1wc2V1ZG9ueW0ta2V5LWZvci10ZXN0cw==", ssmtypes.ParameterTypeSecureString},
		"clinic-id":     {devClinic, ssmtypes.ParameterTypeString},
	} {
		_, err := e.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{
			Name: aws.String(prefix + "/" + name), Value: aws.String(p.v), Type: p.typ, Overwrite: aws.Bool(true),
		})
		require.NoError(e.t, err)
	}
	return prefix
}

func TestPeekWithoutKeyShowsFieldNamesOnly(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	id := e.put(dlq, dead{class: "permanent", code: "validation_error", status: 422})

	msgs, err := e.tool(dlq).Peek(context.Background(), 5, nil)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "permanent", m.ErrorClass)
	require.Equal(t, "validation_error", m.ErrorCode)
	require.Equal(t, 422, m.HTTPStatus)
	require.Equal(t, map[string]string{"kind": "patient", "source": "acme-ehr", "v": "1"}, m.Attributes)
	require.NotNil(t, m.Message)
	require.Equal(t, id, m.Message.ID)
	require.Equal(t, "patient", m.Message.Kind)
	require.Equal(t, "dev", m.Message.Stage)
	require.Equal(t, redrive.ModeFieldNames, m.Record.Mode)
	require.Equal(t, 1, m.Record.UnknownFields)
	var names []string
	for _, f := range m.Record.Fields {
		require.Equal(t, phi.Placeholder, f.Value, "field %s", f.Name)
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"address_line1", "address_line2", "city", "clinic_id", "date_of_birth",
		"email", "first_name", "gender", "last_name", "phone", "state", "zip"}, names)

	e.requireAllVisible(dlq, 1)
}

func TestPeekCommandPrintsNoRecordValue(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	e.put(dlq, dead{class: "permanent", code: "validation_error", status: 422})
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503, kind: novamed.KindPractitioner})
	e.put(dlq, dead{noAttrs: true})
	e.put(dlq, dead{class: "malformed", code: "not_json", body: `{"v":1,"Canaryfirst":"Canarylast"}`})
	prefix := e.putGuardParams()

	// Without a key nothing of either record may appear; with the key the
	// guard's output keeps what the policy keeps (a practitioner's public
	// identity, a patient's gender and state), nothing else.
	withKey := append(canaries(t, novamed.KindPatient, "gender", "state"),
		canaries(t, novamed.KindPractitioner, "first_name", "last_name", "npi_number", "license_state")...)
	for _, tc := range []struct {
		name     string
		args     []string
		canaries []string
		want     []string
	}{
		{"text without key", []string{"peek", "--dlq", dlq}, allCanaries(t),
			[]string{"record (field names only):", "first_name:      [PHI]", "not a valid queue message: unknown key"}},
		{"json without key", []string{"peek", "--dlq", dlq, "--json"}, allCanaries(t),
			[]string{`"mode": "field_names"`, `"value": "[PHI]"`}},
		{"text with key", []string{"peek", "--dlq", dlq, "--param-prefix", prefix}, withKey,
			[]string{"record (de-identified with the development pseudonym key):", devClinic, "keys that are not NovaMed fields (not shown): 1"}},
		{"json with key", []string{"peek", "--dlq", dlq, "--param-prefix", prefix + "/", "--json", "-n", "10"}, withKey,
			[]string{`"mode": "deidentified"`, devClinic}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := e.run(redrive.Clients{}, tc.args...)
			require.NoError(t, err)
			assertNoCanary(t, "stdout", out, tc.canaries)
			assertNoCanary(t, "stderr", errOut, tc.canaries)
			for _, w := range tc.want {
				require.Contains(t, out, w)
			}
		})
	}
	e.requireAllVisible(dlq, 4)
}

func TestPeekWithGuard(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	e.put(dlq, dead{class: "permanent", code: "clinic_not_found", status: 404})
	g, err := redrive.LoadGuard(context.Background(), e.ssm, e.putGuardParams())
	require.NoError(t, err)

	msgs, err := e.tool(dlq).Peek(context.Background(), 1, g)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	r := msgs[0].Record
	require.Equal(t, redrive.ModeDeidentified, r.Mode)
	values := map[string]string{}
	for _, f := range r.Fields {
		values[f.Name] = f.Value
	}
	require.Equal(t, devClinic, values["clinic_id"])
	require.Equal(t, "1979-01-01", values["date_of_birth"])
	require.Equal(t, "97200", values["zip"])
	require.Equal(t, "OR", values["state"])
	require.NotContains(t, values, "address_line2", "dropped by policy")
	require.NotNil(t, r.Report)
	require.Positive(t, r.Report.Replaced)
}

// failingGuard stands for a guard that refuses a record.
type failingGuard struct{}

func (failingGuard) DeidentifyJSON(novamed.Kind, []byte) (novamed.Record, phi.Report, error) {
	return novamed.Record{}, phi.Report{}, errors.New("phi: de-identified record is not valid: email: required")
}

func TestPeekFallsBackToFieldNamesWhenTheGuardFails(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	e.put(dlq, dead{class: "permanent", code: "validation_error", status: 422})

	msgs, err := e.tool(dlq).Peek(context.Background(), 1, failingGuard{})
	require.NoError(t, err)
	r := msgs[0].Record
	require.Equal(t, redrive.ModeFieldNames, r.Mode)
	require.Equal(t, "de-identification failed: phi: de-identified record is not valid: email: required", r.Note)
	for _, f := range r.Fields {
		require.Equal(t, phi.Placeholder, f.Value, "field %s", f.Name)
	}
}

func TestPeekStopsAtN(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	for range 7 {
		e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	}
	msgs, err := e.tool(dlq).Peek(context.Background(), 3, nil)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	seen := map[string]bool{}
	for _, m := range msgs {
		require.False(t, seen[m.MessageID], "message peeked twice")
		seen[m.MessageID] = true
	}
	e.requireAllVisible(dlq, 7)

	_, err = e.tool(dlq).Peek(context.Background(), 0, nil)
	require.ErrorIs(t, err, redrive.ErrUsage)
}

func TestPeekJSONOfEmptyQueue(t *testing.T) {
	e := newEnv(t)
	out, _, err := e.run(redrive.Clients{}, "peek", "--dlq", e.queue("dlq"), "--json")
	require.NoError(t, err)
	var got []redrive.Peeked
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Empty(t, got)
}

func TestLoadGuardErrors(t *testing.T) {
	e := newEnv(t)
	_, err := redrive.LoadGuard(context.Background(), e.ssm, "/novamed-bridge/"+e.prefix+"-absent")
	require.ErrorIs(t, err, redrive.ErrParameter)
	require.Contains(t, err.Error(), "pseudonym-key: not found")

	_, err = redrive.LoadGuard(context.Background(), e.ssm, "relative")
	require.ErrorIs(t, err, redrive.ErrUsage)

	prefix := "/novamed-bridge/" + e.prefix + "-short"
	for name, v := range map[string]string{"pseudonym-key": "c2hvcnQ=", "clinic-id": devClinic} {
		_, err := e.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{
			Name: aws.String(prefix + "/" + name), Value: aws.String(v), Type: ssmtypes.ParameterTypeSecureString,
		})
		require.NoError(t, err)
	}
	_, err = redrive.LoadGuard(context.Background(), e.ssm, prefix)
	require.ErrorIs(t, err, redrive.ErrParameter)
	require.NotContains(t, err.Error(), "c2hvcnQ")
	require.NotContains(t, err.Error(), "short\"")

	// A key that is not base64 is refused, as intake and dispatch refuse it
	// (phi.ParsePseudonymKey): the tool must not show pseudonyms they never make.
	prefix = "/novamed-bridge/" + e.prefix + "-passphrase"
	for name, v := range map[string]string{"pseudonym-key": "not base64 but long enough", "clinic-id": devClinic} {
		_, err := e.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{
			Name: aws.String(prefix + "/" + name), Value: aws.String(v), Type: ssmtypes.ParameterTypeSecureString,
		})
		require.NoError(t, err)
	}
	_, err = redrive.LoadGuard(context.Background(), e.ssm, prefix)
	require.ErrorIs(t, err, redrive.ErrParameter)
	require.NotContains(t, err.Error(), "long enough")
}
