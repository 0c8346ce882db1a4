package inbound

import "encoding/json"

// The FHIR R4 elements the mapping reads (resources, names, telecoms,
// addresses, identifiers, qualifications, notification parameters): the
// one-pass decoder (fhirdecode.go) and encoding/json both fill them.

// FHIR identifier systems and codes the mapper recognises.
const (
	systemNPI       = "http://hl7.org/fhir/sid/us-npi"
	systemNPIOID    = "urn:oid:2.16.840.1.113883.4.6"
	systemIDType    = "http://terminology.hl7.org/CodeSystem/v2-0203"
	idTypeLicense   = "MD"  // Medical License number
	idTypeDEA       = "DEA" // Drug Enforcement Administration registration number
	resPatient      = "Patient"
	resPractitioner = "Practitioner"
	resBundle       = "Bundle"
)

// resource holds every FHIR field the bridge reads, of every resource type
// it reads: one decode, whatever the type, with no type-dependent second
// pass. Fields are lenient (jstr) where resource types disagree on a shape;
// a type error on a field the actual resource type does not use is ignored.
type resource struct {
	ResourceType jstr `json:"resourceType"`
	ID           jstr `json:"id"`

	// Bundle (and SubscriptionStatus.type).
	Type  jstr    `json:"type"`
	Entry []entry `json:"entry"`

	// Patient and Practitioner.
	Name          []humanName     `json:"name"`
	Telecom       []contactPoint  `json:"telecom"`
	Gender        jstr            `json:"gender"`
	BirthDate     jstr            `json:"birthDate"`
	Address       []address       `json:"address"`
	Identifier    []identifier    `json:"identifier"`
	Qualification []qualification `json:"qualification"`

	// Patient only: a deceased person or an animal never becomes a chart.
	// Raw, because only their presence and truth matter.
	DeceasedBoolean  json.RawMessage `json:"deceasedBoolean"`
	DeceasedDateTime json.RawMessage `json:"deceasedDateTime"`
	Extension        []extension     `json:"extension"`

	// Parameters (R4 backport subscription status).
	Parameter []parameter `json:"parameter"`

	// SubscriptionStatus (R4B and R5).
	Subscription      reference           `json:"subscription"`
	NotificationEvent []notificationEvent `json:"notificationEvent"`

	// MessageHeader.focus and Composition.subject (a Reference in R4, a
	// list in R5).
	Focus   []reference     `json:"focus"`
	Subject json.RawMessage `json:"subject"`
}

type extension struct {
	URL jstr `json:"url"`
}

// extAnimal marks a veterinary patient.
const extAnimal = "http://hl7.org/fhir/StructureDefinition/patient-animal"

// relevantFields are the top-level fields each resource type uses; type
// errors elsewhere belong to fields the bridge does not read.
var relevantFields = map[string]map[string]bool{
	resPatient:           {"name": true, "telecom": true, "address": true},
	resPractitioner:      {"name": true, "telecom": true, "identifier": true, "qualification": true},
	resBundle:            {"entry": true},
	"Parameters":         {"parameter": true},
	"SubscriptionStatus": {"subscription": true, "notificationEvent": true},
}

type entry struct {
	FullURL jstr `json:"fullUrl"`
	// Resource is decoded separately, once its position is known, so its
	// error paths carry the entry index.
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method jstr `json:"method"`
	} `json:"request"`
	Search struct {
		Mode jstr `json:"mode"`
	} `json:"search"`
}

type period struct {
	End jstr `json:"end"`
}

type humanName struct {
	Use    jstr   `json:"use"`
	Text   jstr   `json:"text"`
	Family jstr   `json:"family"`
	Given  strs   `json:"given"`
	Period period `json:"period"`
}

type contactPoint struct {
	System jstr   `json:"system"`
	Value  jstr   `json:"value"`
	Use    jstr   `json:"use"`
	Period period `json:"period"`
}

type address struct {
	Use        jstr   `json:"use"`
	Line       strs   `json:"line"`
	City       jstr   `json:"city"`
	State      jstr   `json:"state"`
	PostalCode jstr   `json:"postalCode"`
	Country    jstr   `json:"country"`
	Period     period `json:"period"`
}

type identifier struct {
	System jstr            `json:"system"`
	Value  jstr            `json:"value"`
	Type   codeableConcept `json:"type"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

type coding struct {
	System jstr `json:"system"`
	Code   jstr `json:"code"`
}

type qualification struct {
	Identifier []identifier `json:"identifier"`
}

type reference struct {
	Reference jstr `json:"reference"`
}

type parameter struct {
	Name                 jstr        `json:"name"`
	ValueCode            jstr        `json:"valueCode"`
	ValueReference       reference   `json:"valueReference"`
	ValueString          jscalar     `json:"valueString"`
	ValueInteger64       jscalar     `json:"valueInteger64"`
	ValueUnsignedInteger jscalar     `json:"valueUnsignedInteger"`
	ValuePositiveInt     jscalar     `json:"valuePositiveInt"`
	ValueInteger         jscalar     `json:"valueInteger"`
	Part                 []parameter `json:"part"`
}

// number returns the parameter's value as text, whichever numeric or string
// type the sender's edition of the backport used.
func (p *parameter) number() string {
	for _, v := range []jscalar{p.ValueString, p.ValueInteger64, p.ValueUnsignedInteger, p.ValuePositiveInt, p.ValueInteger} {
		if v.v != "" {
			return v.v
		}
	}
	return ""
}

type notificationEvent struct {
	EventNumber jscalar   `json:"eventNumber"`
	Focus       reference `json:"focus"`
}
