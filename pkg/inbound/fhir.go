package inbound

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/novamed/bridge/pkg/novamed"
)

// fhirSource records which elements a record's fields came from; paths are
// only built when validation fails.
type fhirSource struct {
	prefix                             string
	name, email, phone, addr, npi      int
	license, licenseQual, dea, deaQual int
	hasGiven                           bool
	textName                           bool // the name came from name[i].text
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
		if s.textName {
			return idx("name", s.name) + ".text"
		}
		if !s.hasGiven {
			return idx("name", s.name) + ".given"
		}
		return idx("name", s.name) + ".given[0]"
	case "last_name":
		if s.name < 0 {
			return idx("name", -1)
		}
		if s.textName {
			return idx("name", s.name) + ".text"
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
// NovaMed takes are read. fullURL is the bundle entry's, if any.
func mapResource(r *resource, prefix, fullURL string, opts Options, p *parsed) {
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
		if strings.TrimSpace(first) == "" && strings.TrimSpace(last) == "" {
			// A name given only as text: the first word is the given
			// name, the last the family name; words between are middle
			// names, which NovaMed has no field for.
			if words := strings.Fields(normalize("", str(n.Text, base+".text"))); len(words) >= 2 {
				first, last = words[0], words[len(words)-1]
				src.textName = true
			}
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
		pr.LicenseNumber = normalize("license_number", credential(r, idTypeLicense, &src.license, &src.licenseQual, str))
		pr.DEANumber = normalize("dea_number", credential(r, idTypeDEA, &src.dea, &src.deaQual, str))
		s := p.add(novamed.Record{Kind: novamed.KindPractitioner, Practitioner: pr}, src)
		s.subject = subjectOf(resPractitioner, r.ID.v, fullURL)
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
	i, shippable := pickAddress(r.Address)
	if i >= 0 && !shippable {
		// Abroad: NovaMed ships only within the US. Dropped whole.
		p.dropLater = append(p.dropLater, prefix+"address["+strconv.Itoa(i)+"]")
	}
	if i >= 0 && shippable {
		a := &r.Address[i]
		src.addr = i
		base := "address[" + strconv.Itoa(i) + "]"
		if a.Line.bad {
			p.problem(prefix + base + ".line")
		}
		src.lineCount = len(a.Line.items)
		var rest []string
		for j, l := range a.Line.items {
			v := normalize("address_line1", str(l, base+".line["+strconv.Itoa(j)+"]"))
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
	s := p.add(novamed.Record{Kind: novamed.KindPatient, Patient: pt}, src)
	s.subject = subjectOf(resPatient, r.ID.v, fullURL)
	if v := identifierValue(r.Identifier, opts.SubjectSystem); v != "" {
		s.subject = "identifier|" + v
	}
	s.dropped, p.dropLater = p.dropLater, nil
	switch {
	case isTrue(r.DeceasedBoolean) || isPresent(r.DeceasedDateTime):
		field := "deceasedBoolean"
		if isPresent(r.DeceasedDateTime) {
			field = "deceasedDateTime"
		}
		s.hold = &Hold{Reason: HoldDeceased, Fields: []string{prefix + field}}
	case hasExtension(r.Extension, extAnimal):
		s.hold = &Hold{Reason: HoldNonHuman, Fields: []string{prefix + "extension"}}
	}
}

// identifierValue is the value of the first identifier of system, "" when
// system is empty or absent.
func identifierValue(ids []identifier, system string) string {
	if system == "" {
		return ""
	}
	for _, id := range ids {
		if id.System.v == system {
			if v := strings.TrimSpace(normalize("", id.Value.v)); v != "" {
				return v
			}
		}
	}
	return ""
}

func isTrue(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "true" }

func isPresent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null" && string(raw) != `""`
}

func hasExtension(exts []extension, url string) bool {
	for _, e := range exts {
		if e.URL.v == url {
			return true
		}
	}
	return false
}

// subjectOf names a resource within its source: Type/id from the logical
// id, else from a fullUrl ending in Type/id. A urn:uuid fullUrl names the
// resource only within one bundle, so it names no subject.
func subjectOf(typ, id, fullURL string) string {
	if validID(id) {
		return typ + "/" + id
	}
	rest, ok := strings.CutPrefix(fullURL, typ+"/")
	if j := strings.LastIndex(fullURL, "/"+typ+"/"); j >= 0 {
		rest, ok = fullURL[j+len(typ)+2:], true
	}
	if rest, _, _ = strings.Cut(rest, "/_history"); ok && validID(rest) {
		return typ + "/" + rest
	}
	return ""
}

// validID reports a FHIR logical id: [A-Za-z0-9-.]{1,64}.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// pickName prefers the official name, then the usual one, then the first
// not marked old or ended.
func pickName(names []humanName) int {
	usual, fallback := -1, -1
	for i := range names {
		switch names[i].Use.v {
		case "official":
			return i
		case "usual":
			if usual < 0 {
				usual = i
			}
		case "old":
		default:
			if fallback < 0 && !ended(names[i].Period) {
				fallback = i
			}
		}
	}
	switch {
	case usual >= 0:
		return usual
	case fallback >= 0:
		return fallback
	case len(names) > 0:
		return 0
	}
	return -1
}

// ended reports a period whose end is in the past. FHIR dates and
// dateTimes compare as text as long as the prefix is compared.
func ended(p period) bool {
	end := p.End.v
	if len(end) < 4 {
		return false
	}
	today := nowFunc().UTC().Format("2006-01-02")
	return end[:min(len(end), 10)] < today[:min(len(end), 10)]
}

// pickTelecom returns the contact point of the system to use: home or
// mobile first, else the first one not marked old. Old and ended ones are
// never used.
func pickTelecom(tel []contactPoint, system string) int {
	fallback := -1
	for i := range tel {
		t := &tel[i]
		if t.System.v != system || t.Use.v == "old" || ended(t.Period) || (!t.Value.set && !t.Value.bad) {
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

// pickAddress chooses the address to ship to: a current one (not old, not
// ended) in the US, home first. When the only current addresses are
// abroad, it returns the preferred one with shippable false, so the
// caller can say it was dropped.
func pickAddress(addrs []address) (int, bool) {
	home, us, abroad := -1, -1, -1
	for i := range addrs {
		a := &addrs[i]
		if a.Use.v == "old" || ended(a.Period) {
			continue
		}
		if !inUS(a.Country.v) {
			if abroad < 0 {
				abroad = i
			}
			continue
		}
		if a.Use.v == "home" && home < 0 {
			home = i
		}
		if us < 0 {
			us = i
		}
	}
	switch {
	case home >= 0:
		return home, true
	case us >= 0:
		return us, true
	}
	return abroad, false
}

// inUS reports whether an address's country is the US (or not given).
func inUS(country string) bool {
	switch strings.ToUpper(strings.Join(strings.Fields(strings.ReplaceAll(country, ".", "")), " ")) {
	case "", "US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA", "840":
		return true
	}
	return false
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
