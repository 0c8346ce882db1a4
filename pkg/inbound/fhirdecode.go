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

// object reads an object whose known keys are keys: for each, field is
// called with the key's index, the cursor at the value. Other keys' values
// are skipped (checked, not kept), as encoding/json does.
func (d *fastDecoder) object(keys []string, field func(i int) bool) bool {
	if !d.eat('{') {
		return false
	}
	if d.space(); d.eat('}') {
		return true
	}
	var seen uint64 // every key list is shorter than 64
	for {
		d.space()
		key, ok := d.key()
		if !ok {
			return false
		}
		if d.space(); !d.eat(':') {
			return false
		}
		d.space()
		switch i := index(keys, key); {
		case i >= 0:
			if seen&(1<<i) != 0 {
				return false // a duplicate: encoding/json's rules decide
			}
			seen |= 1 << i
			if !field(i) {
				return false
			}
		case foldsToAny(keys, key):
			return false // encoding/json matches it case-insensitively
		default:
			if !d.skip() {
				return false
			}
		}
		d.space()
		switch {
		case d.eat(','):
		case d.eat('}'):
			return true
		default:
			return false
		}
	}
}

// structure reads a struct-typed field: null leaves it as it is (zero: no
// key is read twice), an object is read by obj, anything else is a type
// error, left to encoding/json.
func (d *fastDecoder) structure(obj func() bool) bool {
	if d.peek() == 'n' {
		return d.literal("null")
	}
	return obj()
}

// slice reads a slice-typed field: null is a nil slice, [] an empty one,
// elements (null or an object each) are read by elem into a new slice.
func slice[T any](d *fastDecoder, dst *[]T, elem func(*fastDecoder, *T) bool) bool {
	switch d.peek() {
	case 'n':
		*dst = nil
		return d.literal("null")
	case '[':
	default:
		return false // a type error
	}
	d.pos++
	out := make([]T, 0, initialCap)
	if d.space(); d.eat(']') {
		*dst = out
		return true
	}
	for {
		d.space()
		var zero T
		out = append(out, zero)
		if d.peek() == 'n' {
			if !d.literal("null") {
				return false
			}
		} else if !elem(d, &out[len(out)-1]) {
			return false
		}
		d.space()
		switch {
		case d.eat(','):
		case d.eat(']'):
			*dst = out
			return true
		default:
			return false
		}
	}
}

// jstr, jscalar and raw hand the value's bytes to the field's own
// UnmarshalJSON, as encoding/json does.
func (d *fastDecoder) jstr(s *jstr) bool {
	v, ok := d.value()
	if ok {
		_ = s.UnmarshalJSON(v)
	}
	return ok
}

func (d *fastDecoder) jscalar(s *jscalar) bool {
	v, ok := d.value()
	if ok {
		_ = s.UnmarshalJSON(v)
	}
	return ok
}

func (d *fastDecoder) raw(m *json.RawMessage) bool {
	v, ok := d.value()
	if ok {
		_ = m.UnmarshalJSON(v)
	}
	return ok
}

// strs reads a strs field: its items are decoded one by one by
// jstr.UnmarshalJSON, which is what strs.UnmarshalJSON has encoding/json
// do, without scanning the array again.
func (d *fastDecoder) strs(l *strs) bool {
	if d.peek() != '[' {
		v, ok := d.value()
		if ok {
			_ = l.UnmarshalJSON(v)
		}
		return ok
	}
	d.pos++
	*l = strs{items: make([]jstr, 0, initialCap)}
	if d.space(); d.eat(']') {
		return true
	}
	for {
		d.space()
		v, ok := d.value()
		if !ok {
			return false
		}
		var s jstr
		_ = s.UnmarshalJSON(v)
		l.items = append(l.items, s)
		d.space()
		switch {
		case d.eat(','):
		case d.eat(']'):
			return true
		default:
			return false
		}
	}
}

// initialCap is the room a decoded list starts with: most FHIR lists of a
// person (names, addresses, given names, lines) hold one or two elements.
// Paired timing on the patient sample: 9 % faster than growing from zero;
// four gained nothing more.
const initialCap = 2

// index returns the index of key in keys, or -1.
func index(keys []string, key []byte) int {
	for i, k := range keys {
		if k == string(key) {
			return i
		}
	}
	return -1
}

// foldsToAny reports whether an ASCII key equals one of keys but for case.
func foldsToAny(keys []string, key []byte) bool {
	for _, k := range keys {
		if len(k) != len(key) {
			continue
		}
		same := true
		for i := 0; i < len(k) && same; i++ {
			same = lower(k[i]) == lower(key[i])
		}
		if same {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func (d *fastDecoder) space() {
	for d.pos < len(d.data) && isSpace(d.data[d.pos]) {
		d.pos++
	}
}

func (d *fastDecoder) atEnd() bool {
	d.space()
	return d.pos == len(d.data)
}

func (d *fastDecoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *fastDecoder) eat(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// key reads an object key that is plain ASCII without escapes (any other
// is left to encoding/json, whose case folding covers Unicode) and returns
// its bytes without the quotes.
func (d *fastDecoder) key() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.pos
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			return d.data[start : d.pos-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		d.pos++
	}
	return nil, false
}

// value reads one well-formed JSON value and returns its bytes.
func (d *fastDecoder) value() ([]byte, bool) {
	start := d.pos
	if !d.skip() {
		return nil, false
	}
	return d.data[start:d.pos], true
}

// skip reads one JSON value, checking it as encoding/json's scanner does.
// Nesting is bounded by checkJSON's depth limit, which every body passes
// before it is decoded.
func (d *fastDecoder) skip() bool {
	switch c := d.peek(); {
	case c == '"':
		return d.str()
	case c == '{':
		d.pos++
		if d.space(); d.eat('}') {
			return true
		}
		for {
			d.space()
			if !d.str() {
				return false
			}
			if d.space(); !d.eat(':') {
				return false
			}
			if d.space(); !d.skip() {
				return false
			}
			d.space()
			switch {
			case d.eat(','):
			case d.eat('}'):
				return true
			default:
				return false
			}
		}
	case c == '[':
		d.pos++
		if d.space(); d.eat(']') {
			return true
		}
		for {
			if d.space(); !d.skip() {
				return false
			}
			d.space()
			switch {
			case d.eat(','):
			case d.eat(']'):
				return true
			default:
				return false
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	}
	return false
}

// str reads a string literal: no control characters, valid escapes. Bytes
// that are not UTF-8 pass, as they pass encoding/json's scanner.
func (d *fastDecoder) str() bool {
	if !d.eat('"') {
		return false
	}
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		d.pos++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if d.pos >= len(d.data) {
				return false
			}
			e := d.data[d.pos]
			d.pos++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d.data)-d.pos < 4 {
					return false
				}
				for _, h := range d.data[d.pos : d.pos+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				d.pos += 4
			default:
				return false
			}
		}
	}
	return false
}

// number reads a number literal per RFC 8259.
func (d *fastDecoder) number() bool {
	d.eat('-')
	switch {
	case d.eat('0'):
	case d.digits() == 0:
		return false
	}
	if d.eat('.') && d.digits() == 0 {
		return false
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

func (d *fastDecoder) digits() int {
	n := 0
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
		n++
	}
	return n
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return false
	}
	d.pos += len(lit)
	return true
}
