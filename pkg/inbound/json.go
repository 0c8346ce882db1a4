package inbound

import (
	"bytes"
	"encoding/json"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// checkJSON classifies the body before any decoding: not JSON at all, JSON
// that is not an object, or nested too deeply. It returns the body without a
// UTF-8 byte order mark (some .NET senders add one).
//
// The depth scan is one pass over the bytes with no allocation; it does not
// validate (json.Unmarshal does), it only stops a deep body before the
// decoder recurses into it.
func checkJSON(body []byte) ([]byte, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	i := 0
	for i < len(body) && isSpace(body[i]) {
		i++
	}
	if i == len(body) {
		return nil, ErrNotJSON
	}
	switch c := body[i]; {
	case c == '{':
	case c == '[' || c == '"' || c == '-' || '0' <= c && c <= '9' ||
		bytes.HasPrefix(body[i:], []byte("true")) || bytes.HasPrefix(body[i:], []byte("false")) ||
		bytes.HasPrefix(body[i:], []byte("null")):
		if err := checkDepth(body[i:]); err != nil {
			return nil, err
		}
		if json.Valid(body) {
			return nil, &PayloadError{Fields: []string{"$"}}
		}
		return nil, ErrMalformedJSON
	default:
		return nil, ErrNotJSON
	}
	if err := checkDepth(body[i:]); err != nil {
		return nil, err
	}
	return body, nil
}

func checkDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i+1)
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return ErrTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// stringEnd returns the index of the quote that closes the string starting
// at b[i], or len(b). A quote is escaped when an odd number of backslashes
// precede it. IndexByte is vectorised, which makes this the fast part.
func stringEnd(b []byte, i int) int {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
		i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// jstr is a JSON string field that never fails decoding: a value of another
// type is remembered as bad, so the mapper can report the field's exact path
// if (and only if) it uses the field.
type jstr struct {
	v   string
	set bool // a JSON string was present
	bad bool // present, but not a string
}

// UnmarshalJSON implements json.Unmarshaler. b is one valid JSON value.
func (s *jstr) UnmarshalJSON(b []byte) error {
	*s = jstr{}
	switch b[0] {
	case '"':
		if bytes.IndexByte(b, '\\') < 0 {
			// Fast path: no escapes, the bytes are the string. Invalid UTF-8
			// is kept as is, so validation rejects it instead of the decoder
			// silently replacing it.
			s.v = intern(b[1 : len(b)-1])
		} else if json.Unmarshal(b, &s.v) != nil {
			s.bad = true
			return nil
		}
		s.set = true
	case 'n': // null: absent
	default:
		s.bad = true
	}
	return nil
}

// intern returns string(b), without allocating for the codes FHIR
// resources repeat in every element (types, uses, systems): the mapper
// reads them and keeps none.
func intern(b []byte) string {
	switch string(b) { // a switch on string(b) does not allocate
	case "Patient":
		return "Patient"
	case "Practitioner":
		return "Practitioner"
	case "official":
		return "official"
	case "usual":
		return "usual"
	case "nickname":
		return "nickname"
	case "old":
		return "old"
	case "home":
		return "home"
	case "work":
		return "work"
	case "mobile":
		return "mobile"
	case "temp":
		return "temp"
	case "phone":
		return "phone"
	case "email":
		return "email"
	case "fax":
		return "fax"
	case "physical":
		return "physical"
	case "postal":
		return "postal"
	case "both":
		return "both"
	case "male":
		return "male"
	case "female":
		return "female"
	case "other":
		return "other"
	case "unknown":
		return "unknown"
	case "US":
		return "US"
	}
	return string(b)
}

// strs is a JSON array of strings that never fails decoding.
type strs struct {
	items []jstr
	bad   bool // present, but not an array
}

// UnmarshalJSON implements json.Unmarshaler.
func (l *strs) UnmarshalJSON(b []byte) error {
	*l = strs{}
	switch b[0] {
	case '[':
		// Elements are jstr, which never fail, so neither can this.
		_ = json.Unmarshal(b, &l.items)
	case 'n':
	default:
		l.bad = true
	}
	return nil
}

// jscalar is a JSON string or number kept as text (FHIR event numbers are
// strings in one edition and integers in another).
type jscalar struct {
	v   string
	bad bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *jscalar) UnmarshalJSON(b []byte) error {
	*s = jscalar{}
	switch c := b[0]; {
	case c == '"':
		var j jstr
		_ = j.UnmarshalJSON(b)
		s.v, s.bad = j.v, j.bad
	case c == '-' || '0' <= c && c <= '9':
		s.v = string(b)
	case c == 'n':
	default:
		s.bad = true
	}
	return nil
}
