package inbound

import (
	"encoding/json"
)

// decodeResource decodes a FHIR resource into *r with exactly the outcome of
// json.Unmarshal(data, r) on a zero r: same fields, same error.
//
// encoding/json spends most of intake's parse time on reflection and on
// scanning every byte twice (once to validate, once to decode). The fast
// path below reads the common case in one pass: well-formed JSON, keys
// spelled exactly as the struct tags, each at most once per object, and
// every value of the type its field takes (the lenient jstr, strs and
// jscalar fields take any). Anything else (a syntax error, a duplicate key,
// a key that matches a field only case-insensitively or is escaped or not
// ASCII, a shape error) abandons the fast path, and encoding/json decodes
// the data from the start, so its rules (last duplicate wins, case-folded
// keys, the first type error's path) stay the only ones. The lenient
// fields are filled by their own UnmarshalJSON methods in both paths.
// TestDecodeResourceMatchesEncodingJSON and FuzzDecodeResource compare the
// two.
func decodeResource(data []byte, r *resource) error {
	d := fastDecoder{data: data}
	if d.space(); d.resource(r) && d.atEnd() {
		return nil
	}
	*r = resource{}
	return json.Unmarshal(data, r)
}

// fastDecoder is a cursor over one JSON text. Its methods return false to
// abandon the fast path.
type fastDecoder struct {
	data []byte
	pos  int
}

// The keys of each struct, in field order; each must equal the field's json
// tag (TestFastDecoderKeysMatchTags).
var (
	resourceKeys = []string{"resourceType", "id", "type", "entry", "name", "telecom", "gender",
		"birthDate", "address", "identifier", "qualification", "deceasedBoolean",
		"deceasedDateTime", "extension", "parameter", "subscription", "notificationEvent",
		"focus", "subject"}
	extensionKeys         = []string{"url"}
	entryKeys             = []string{"fullUrl", "resource", "request", "search"}
	entryRequestKeys      = []string{"method"}
	entrySearchKeys       = []string{"mode"}
	periodKeys            = []string{"end"}
	humanNameKeys         = []string{"use", "text", "family", "given", "period"}
	contactPointKeys      = []string{"system", "value", "use", "period"}
	addressKeys           = []string{"use", "line", "city", "state", "postalCode", "country", "period"}
	identifierKeys        = []string{"system", "value", "type"}
	codeableConceptKeys   = []string{"coding"}
	codingKeys            = []string{"system", "code"}
	qualificationKeys     = []string{"identifier"}
	referenceKeys         = []string{"reference"}
	notificationEventKeys = []string{"eventNumber", "focus"}
	parameterKeys         = []string{"name", "valueCode", "valueReference", "valueString",
		"valueInteger64", "valueUnsignedInteger", "valuePositiveInt", "valueInteger", "part"}
)

func (d *fastDecoder) resource(r *resource) bool {
	return d.object(resourceKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&r.ResourceType)
		case 1:
			return d.jstr(&r.ID)
		case 2:
			return d.jstr(&r.Type)
		case 3:
			return slice(d, &r.Entry, (*fastDecoder).entry)
		case 4:
			return slice(d, &r.Name, (*fastDecoder).humanName)
		case 5:
			return slice(d, &r.Telecom, (*fastDecoder).contactPoint)
		case 6:
			return d.jstr(&r.Gender)
		case 7:
			return d.jstr(&r.BirthDate)
		case 8:
			return slice(d, &r.Address, (*fastDecoder).address)
		case 9:
			return slice(d, &r.Identifier, (*fastDecoder).identifier)
		case 10:
			return slice(d, &r.Qualification, (*fastDecoder).qualification)
		case 11:
			return d.raw(&r.DeceasedBoolean)
		case 12:
			return d.raw(&r.DeceasedDateTime)
		case 13:
			return slice(d, &r.Extension, (*fastDecoder).extension)
		case 14:
			return slice(d, &r.Parameter, (*fastDecoder).parameter)
		case 15:
			return d.structure(func() bool { return d.reference(&r.Subscription) })
		case 16:
			return slice(d, &r.NotificationEvent, (*fastDecoder).notificationEvent)
		case 17:
			return slice(d, &r.Focus, (*fastDecoder).reference)
		default:
			return d.raw(&r.Subject)
		}
	})
}

func (d *fastDecoder) extension(e *extension) bool {
	return d.object(extensionKeys, func(int) bool { return d.jstr(&e.URL) })
}

func (d *fastDecoder) entry(e *entry) bool {
	return d.object(entryKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&e.FullURL)
		case 1:
			return d.raw(&e.Resource)
		case 2:
			return d.structure(func() bool {
				return d.object(entryRequestKeys, func(int) bool { return d.jstr(&e.Request.Method) })
			})
		default:
			return d.structure(func() bool {
				return d.object(entrySearchKeys, func(int) bool { return d.jstr(&e.Search.Mode) })
			})
		}
	})
}

func (d *fastDecoder) period(p *period) bool {
	return d.structure(func() bool {
		return d.object(periodKeys, func(int) bool { return d.jstr(&p.End) })
	})
}

func (d *fastDecoder) humanName(n *humanName) bool {
	return d.object(humanNameKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&n.Use)
		case 1:
			return d.jstr(&n.Text)
		case 2:
			return d.jstr(&n.Family)
		case 3:
			return d.strs(&n.Given)
		default:
			return d.period(&n.Period)
		}
	})
}

func (d *fastDecoder) contactPoint(c *contactPoint) bool {
	return d.object(contactPointKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&c.System)
		case 1:
			return d.jstr(&c.Value)
		case 2:
			return d.jstr(&c.Use)
		default:
			return d.period(&c.Period)
		}
	})
}

func (d *fastDecoder) address(a *address) bool {
	return d.object(addressKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&a.Use)
		case 1:
			return d.strs(&a.Line)
		case 2:
			return d.jstr(&a.City)
		case 3:
			return d.jstr(&a.State)
		case 4:
			return d.jstr(&a.PostalCode)
		case 5:
			return d.jstr(&a.Country)
		default:
			return d.period(&a.Period)
		}
	})
}

func (d *fastDecoder) identifier(id *identifier) bool {
	return d.object(identifierKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&id.System)
		case 1:
			return d.jstr(&id.Value)
		default:
			return d.structure(func() bool { return d.codeableConcept(&id.Type) })
		}
	})
}

func (d *fastDecoder) codeableConcept(c *codeableConcept) bool {
	return d.object(codeableConceptKeys, func(int) bool {
		return slice(d, &c.Coding, (*fastDecoder).coding)
	})
}

func (d *fastDecoder) coding(c *coding) bool {
	return d.object(codingKeys, func(i int) bool {
		if i == 0 {
			return d.jstr(&c.System)
		}
		return d.jstr(&c.Code)
	})
}

func (d *fastDecoder) qualification(q *qualification) bool {
	return d.object(qualificationKeys, func(int) bool {
		return slice(d, &q.Identifier, (*fastDecoder).identifier)
	})
}

func (d *fastDecoder) reference(r *reference) bool {
	return d.object(referenceKeys, func(int) bool { return d.jstr(&r.Reference) })
}

func (d *fastDecoder) notificationEvent(e *notificationEvent) bool {
	return d.object(notificationEventKeys, func(i int) bool {
		if i == 0 {
			return d.jscalar(&e.EventNumber)
		}
		return d.structure(func() bool { return d.reference(&e.Focus) })
	})
}

func (d *fastDecoder) parameter(p *parameter) bool {
	return d.object(parameterKeys, func(i int) bool {
		switch i {
		case 0:
			return d.jstr(&p.Name)
		case 1:
			return d.jstr(&p.ValueCode)
		case 2:
			return d.structure(func() bool { return d.reference(&p.ValueReference) })
		case 3:
			return d.jscalar(&p.ValueString)
		case 4:
			return d.jscalar(&p.ValueInteger64)
		case 5:
			return d.jscalar(&p.ValueUnsignedInteger)
		case 6:
			return d.jscalar(&p.ValuePositiveInt)
		case 7:
			return d.jscalar(&p.ValueInteger)
		default:
			return slice(d, &p.Part, (*fastDecoder).parameter)
		}
	})
}
