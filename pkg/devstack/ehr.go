package devstack

import (
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/novamed/bridge/pkg/ehr/ehrtest"
	"github.com/novamed/bridge/pkg/samples"
	"github.com/novamed/bridge/pkg/source"
)

// The local stack's EHR: an EHR sandbox (pkg/ehr/ehrtest) with a SMART
// token endpoint, standing in for the FHIR server of every local source
// with a fhir_server (events/sources/ehr-athena.json). The committed
// definitions point at a placeholder address; Start points them at the
// sandbox and registers their public keys as the EHR's backend-service
// clients, as an operator does with the real EHR (docs/operations.md).

// ehrDemoPatient is who the athenaOne-style sample notification
// (fhir-athena-notification) is about: its AuditEvent names this Patient,
// which dispatch fetches. Its values are canaries: the Development sandbox
// must never receive them.
var ehrDemoPatient = struct {
	ID, Family, Given, Email, BirthDate, Phone string
}{
	ID: "pt-demo-1", Family: "Vandermolen-Ashgrove", Given: "Perpetua",
	Email: "perpetua.vdm.ehr@mailbox.example", BirthDate: "1958-03-27", Phone: "+1 603 867 2291",
}

// ehrDemoAuditEvent is the AuditEvent the sample notification names.
const ehrDemoAuditEvent = "ae-demo-1"

// ehrDemoResources are what the sandbox serves: the Patient and the
// AuditEvent of the sample notification.
func ehrDemoResources() []string {
	p := ehrDemoPatient
	return []string{
		fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"use":"official","family":%q,"given":[%q]}],
			"telecom":[{"system":"email","value":%q},{"system":"phone","value":%q,"use":"mobile"}],
			"gender":"female","birthDate":%q,"address":[{"use":"home","state":"NH","postalCode":"03301"}]}`,
			p.ID, p.Family, p.Given, p.Email, p.Phone, p.BirthDate),
		fmt.Sprintf(`{"resourceType":"AuditEvent","id":%q,"type":{"code":"rest"},
			"entity":[{"what":{"reference":"Patient/%s"}}]}`, ehrDemoAuditEvent, p.ID),
	}
}

// ehrCanaries are the demo patient's values.
func ehrCanaries() []string {
	p := ehrDemoPatient
	return []string{p.Family, p.Given, p.Email, p.BirthDate, p.Phone}
}

// startEHR starts the EHR sandbox and returns sources with every
// fhir_server pointed at it, their keys registered.
func startEHR(sources []samples.Source) (*ehrtest.Server, []samples.Source, error) {
	sb := ehrtest.New()
	for _, r := range ehrDemoResources() {
		if err := sb.Put([]byte(r)); err != nil {
			sb.Close()
			return nil, nil, fmt.Errorf("devstack: EHR sandbox: %w", err)
		}
	}
	out := make([]samples.Source, len(sources))
	for i, src := range sources {
		out[i] = src
		fs := src.Definition.FHIRServer
		if fs == nil {
			continue
		}
		def := src.Definition
		local := sb.Definition(fs.ClientID, fs.Scope, fs.PrivateKey)
		def.FHIRServer = &local
		data, err := json.Marshal(def)
		if err != nil {
			sb.Close()
			return nil, nil, err
		}
		parsed, err := source.Parse(src.Name, data)
		if err != nil || parsed.FHIRServer == nil {
			sb.Close()
			return nil, nil, fmt.Errorf("devstack: source %s: fhir_server: %w", src.Name, err)
		}
		sb.RegisterClient(fs.ClientID, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{parsed.FHIRServer.PublicJWK()}}, parsed.FHIRServer.Scopes...)
		out[i].Definition, out[i].JSON = def, data
	}
	return sb, out, nil
}
