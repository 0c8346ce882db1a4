package inbound

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/novamed/bridge/pkg/novamed"
)

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

	// Parameters (R4 backport subscription status).
	Parameter []parameter `json:"parameter"`

	// SubscriptionStatus (R4B and R5).
	Subscription      reference           `json:"subscription"`
	NotificationEvent []notificationEvent `json:"notificationEvent"`
}

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
	// Resource is decoded separately, once its position is known, so its
	// error paths carry the entry index.
	Resource json.RawMessage `json:"resource"`
}

type humanName struct {
	Use    jstr `json:"use"`
	Family jstr `json:"family"`
	Given  strs `json:"given"`
}

type contactPoint struct {
	System jstr `json:"system"`
	Value  jstr `json:"value"`
	Use    jstr `json:"use"`
}

type address struct {
	Use        jstr `json:"use"`
	Line       strs `json:"line"`
	City       jstr `json:"city"`
	State      jstr `json:"state"`
	PostalCode jstr `json:"postalCode"`
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
	EventNumber jscalar `json:"eventNumber"`
}

func parseFHIR(body []byte, opts Options, p *parsed) (Result, error) {
	var r resource
	err := json.Unmarshal(body, &r)
	rt := r.ResourceType.v
	if err := decodeErr(err, p, "", relevantTo(rt)); err != nil {
		return Result{}, err
	}
	switch rt {
	case resPatient, resPractitioner:
		mapResource(&r, "", opts, p)
		return Result{}, nil
	case resBundle:
		return parseBundle(&r, opts, p)
	default:
		p.problem("resourceType")
		return Result{}, nil
	}
}

func relevantTo(resourceType string) func(string) bool {
	return func(top string) bool { return relevantFields[resourceType][top] }
}

// Bundle types whose entries are all mapped.
var plainBundles = map[string]bool{"transaction": true, "batch": true, "collection": true, "searchset": true}

func parseBundle(b *resource, opts Options, p *parsed) (Result, error) {
	res := Result{EventID: eventID(b.ID.v)}
	typ := b.Type.v
	if !plainBundles[typ] && typ != "history" {
		p.problem("type")
		return Result{}, nil
	}
	if len(b.Entry) == 0 {
		p.problem("entry")
		return Result{}, nil
	}
	first := 0
	if typ == "history" {
		// Only subscription notifications: a plain history bundle holds
		// several versions of one resource, which NovaMed would create twice.
		n, id, err := notification(b.Entry[0].Resource, p)
		if err != nil || p.failed() {
			return Result{}, err
		}
		res.Notification = n
		if id != "" {
			res.EventID = eventID(id)
		}
		first = 1
		if n.StatusOnly() {
			res.Skipped = len(b.Entry) - 1
			return res, nil
		}
	}
	var r resource
	for i := first; i < len(b.Entry); i++ {
		raw := b.Entry[i].Resource
		if len(raw) == 0 || raw[0] == 'n' {
			res.Skipped++ // a delete, or an id-only notification
			continue
		}
		prefix := "entry[" + strconv.Itoa(i) + "].resource."
		if raw[0] != '{' {
			p.problem(strings.TrimSuffix(prefix, "."))
			continue
		}
		r = resource{}
		err := json.Unmarshal(raw, &r)
		rt := r.ResourceType.v
		if rt != resPatient && rt != resPractitioner {
			res.Skipped++
			continue
		}
		if err := decodeErr(err, p, prefix, relevantTo(rt)); err != nil {
			return Result{}, err
		}
		mapResource(&r, prefix, opts, p)
	}
	return res, nil
}

// notification reads the status resource that opens a notification bundle
// and returns its type and an event id built from the subscription and the
// event numbers (stable across the sender's retries, unlike Bundle.id).
func notification(raw json.RawMessage, p *parsed) (Notification, string, error) {
	const prefix = "entry[0].resource."
	if len(raw) == 0 || raw[0] != '{' {
		p.problem("entry[0].resource")
		return "", "", nil
	}
	var r resource
	err := json.Unmarshal(raw, &r)
	rt := r.ResourceType.v
	if err := decodeErr(err, p, prefix, relevantTo(rt)); err != nil {
		return "", "", err
	}
	var (
		typ, typPath, sub string
		events            []string
	)
	switch rt {
	case "Parameters":
		typPath = prefix + "parameter"
		for i := range r.Parameter {
			prm := &r.Parameter[i]
			switch prm.Name.v {
			case "type":
				typ, typPath = prm.ValueCode.v, prefix+"parameter["+strconv.Itoa(i)+"].valueCode"
			case "subscription":
				sub = prm.ValueReference.Reference.v
			case "notification-event":
				for j := range prm.Part {
					if prm.Part[j].Name.v == "event-number" {
						events = append(events, prm.Part[j].number())
					}
				}
			}
		}
	case "SubscriptionStatus":
		typ, typPath = r.Type.v, prefix+"type"
		sub = r.Subscription.Reference.v
		for _, e := range r.NotificationEvent {
			events = append(events, e.EventNumber.v)
		}
	default:
		// A history bundle that is not a subscription notification.
		p.problem("type")
		return "", "", nil
	}
	n := Notification(typ)
	switch n {
	case NotificationHandshake, NotificationHeartbeat, NotificationEvent, NotificationQueryStatus, NotificationQueryEvent:
	default:
		p.problem(typPath)
		return "", "", nil
	}
	id := ""
	if sub != "" && len(events) > 0 {
		id = sub + "#" + strings.Join(events, ",")
	}
	return n, id, nil
}

// fhirSource records which elements a record's fields came from; paths are
// only built when validation fails.
type fhirSource struct {
	prefix                             string
	name, email, phone, addr, npi      int
	license, licenseQual, dea, deaQual int
	hasGiven                           bool
	lineCount                          int
}

func (s *fhirSource) path(field string) string {
	idx := func(base string, i int) string {
		if i < 0 {
			return s.prefix + base
		}
		return s.prefix + base + "[" + strconv.Itoa(i) + "]"
	}
	ident := func(i, q int) string {
		if q >= 0 {
			return idx("qualification", q) + ".identifier[" + strconv.Itoa(i) + "].value"
		}
		return idx("identifier", i) + ".value"
	}
	switch field {
	case "first_name":
		if s.name < 0 {
			return idx("name", -1)
		}
		if !s.hasGiven {
			return idx("name", s.name) + ".given"
		}
		return idx("name", s.name) + ".given[0]"
	case "last_name":
		if s.name < 0 {
			return idx("name", -1)
		}
		return idx("name", s.name) + ".family"
	case "date_of_birth":
		return s.prefix + "birthDate"
	case "gender":
		return s.prefix + "gender"
	case "email":
		if s.email < 0 {
			return idx("telecom", -1)
		}
		return idx("telecom", s.email) + ".value"
	case "phone":
		return idx("telecom", s.phone) + ".value"
	case "address_line1":
		return idx("address", s.addr) + ".line[0]"
	case "address_line2":
		if s.lineCount > 2 {
			return idx("address", s.addr) + ".line"
		}
		return idx("address", s.addr) + ".line[1]"
	case "city":
		return idx("address", s.addr) + ".city"
	case "state":
		return idx("address", s.addr) + ".state"
	case "zip":
		return idx("address", s.addr) + ".postalCode"
	case "npi_number":
		if s.npi < 0 {
			return idx("identifier", -1)
		}
		return idx("identifier", s.npi) + ".value"
	case "license_number":
		return ident(s.license, s.licenseQual)
	case "dea_number":
		return ident(s.dea, s.deaQual)
	}
	return ""
}

// mapResource maps a Patient or Practitioner to a record. Only the elements
// NovaMed takes are read.
func mapResource(r *resource, prefix string, opts Options, p *parsed) {
	src := &fhirSource{prefix: prefix, name: -1, email: -1, phone: -1, addr: -1, npi: -1,
		license: -1, licenseQual: -1, dea: -1, deaQual: -1}
	str := func(s jstr, path string) string {
		if s.bad {
			p.problem(prefix + path)
		}
		return s.v
	}
	var first, last, email, phone string
	if i := pickName(r.Name); i >= 0 {
		n := &r.Name[i]
		src.name = i
		base := "name[" + strconv.Itoa(i) + "]"
		last = str(n.Family, base+".family")
		if n.Given.bad {
			p.problem(prefix + base + ".given")
		}
		if len(n.Given.items) > 0 {
			src.hasGiven = true
			first = str(n.Given.items[0], base+".given[0]")
		}
	}
	if i := pickTelecom(r.Telecom, "email"); i >= 0 {
		src.email = i
		email = str(r.Telecom[i].Value, "telecom["+strconv.Itoa(i)+"].value")
	}
	if i := pickTelecom(r.Telecom, "phone"); i >= 0 {
		src.phone = i
		phone = str(r.Telecom[i].Value, "telecom["+strconv.Itoa(i)+"].value")
	}

	if r.ResourceType.v == resPractitioner {
		pr := &novamed.PractitionerRequest{
			FirstName:      normalize("first_name", first),
			LastName:       normalize("last_name", last),
			Email:          normalize("email", email),
			Phone:          normalize("phone", phone),
			AssignedClinic: opts.ClinicID,
		}
		for i := range r.Identifier {
			id := &r.Identifier[i]
			if src.npi < 0 && (id.System.v == systemNPI || id.System.v == systemNPIOID) {
				src.npi = i
				pr.NPINumber = normalize("npi_number", str(id.Value, "identifier["+strconv.Itoa(i)+"].value"))
			}
		}
		pr.LicenseNumber = credential(r, idTypeLicense, &src.license, &src.licenseQual, str)
		pr.DEANumber = credential(r, idTypeDEA, &src.dea, &src.deaQual, str)
		p.add(novamed.Record{Kind: novamed.KindPractitioner, Practitioner: pr}, src)
		return
	}

	pt := &novamed.PatientRequest{
		ClinicID:    opts.ClinicID,
		FirstName:   normalize("first_name", first),
		LastName:    normalize("last_name", last),
		DateOfBirth: normalize("date_of_birth", str(r.BirthDate, "birthDate")),
		Email:       normalize("email", email),
		Gender:      normalize("gender", str(r.Gender, "gender")),
		Phone:       normalize("phone", phone),
	}
	if i := pickAddress(r.Address); i >= 0 {
		a := &r.Address[i]
		src.addr = i
		base := "address[" + strconv.Itoa(i) + "]"
		if a.Line.bad {
			p.problem(prefix + base + ".line")
		}
		src.lineCount = len(a.Line.items)
		var rest []string
		for j, l := range a.Line.items {
			v := strings.TrimSpace(str(l, base+".line["+strconv.Itoa(j)+"]"))
			if j == 0 {
				pt.AddressLine1 = v
			} else if v != "" {
				rest = append(rest, v)
			}
		}
		pt.AddressLine2 = strings.Join(rest, ", ")
		pt.City = normalize("city", str(a.City, base+".city"))
		pt.State = normalize("state", str(a.State, base+".state"))
		pt.Zip = normalize("zip", str(a.PostalCode, base+".postalCode"))
	}
	p.add(novamed.Record{Kind: novamed.KindPatient, Patient: pt}, src)
}

// pickName prefers the official name, then the first name not marked old.
func pickName(names []humanName) int {
	fallback := -1
	for i := range names {
		switch names[i].Use.v {
		case "official":
			return i
		case "old":
		default:
			if fallback < 0 {
				fallback = i
			}
		}
	}
	if fallback < 0 && len(names) > 0 {
		return 0
	}
	return fallback
}

// pickTelecom returns the contact point of the system to use: home or
// mobile first, else the first one not marked old. Old ones are never used.
func pickTelecom(tel []contactPoint, system string) int {
	fallback := -1
	for i := range tel {
		t := &tel[i]
		if t.System.v != system || t.Use.v == "old" || (!t.Value.set && !t.Value.bad) {
			continue
		}
		if t.Use.v == "home" || t.Use.v == "mobile" {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return fallback
}

// pickAddress prefers the home address, then the first not marked old.
func pickAddress(addrs []address) int {
	fallback := -1
	for i := range addrs {
		switch addrs[i].Use.v {
		case "home":
			return i
		case "old":
		default:
			if fallback < 0 {
				fallback = i
			}
		}
	}
	return fallback
}

// credential finds an identifier typed with HL7 v2 table 0203 code, on the
// practitioner or on one of its qualifications. Anything less explicit is
// not "clearly identifiable" and is left out.
func credential(r *resource, code string, at, qual *int, str func(jstr, string) string) string {
	find := func(ids []identifier) int {
		for i := range ids {
			for _, c := range ids[i].Type.Coding {
				if c.System.v == systemIDType && c.Code.v == code {
					return i
				}
			}
		}
		return -1
	}
	if i := find(r.Identifier); i >= 0 {
		*at = i
		return strings.TrimSpace(str(r.Identifier[i].Value, "identifier["+strconv.Itoa(i)+"].value"))
	}
	for q := range r.Qualification {
		if i := find(r.Qualification[q].Identifier); i >= 0 {
			*at, *qual = i, q
			path := "qualification[" + strconv.Itoa(q) + "].identifier[" + strconv.Itoa(i) + "].value"
			return strings.TrimSpace(str(r.Qualification[q].Identifier[i].Value, path))
		}
	}
	return ""
}
