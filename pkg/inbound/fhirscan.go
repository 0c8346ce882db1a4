package inbound

import (
	"encoding/json"

	"github.com/novamed/bridge/internal/jsonscan"
)

// The fast decoder's JSON reading: objects by key list, lists, the lenient
// fields, and well-formed values checked as encoding/json's scanner checks
// them. Every method returns false to abandon the fast path
// (decodeResource).

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
		if more, ok := d.next('}'); !more {
			return ok
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
		if more, ok := d.next(']'); !more {
			*dst = out
			return ok
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
		if more, ok := d.next(']'); !more {
			return ok
		}
	}
}

// next reads what follows a member or an element: a comma (more is true)
// or end, which closes the object or list. ok is false for anything else.
func (d *fastDecoder) next(end byte) (more, ok bool) {
	d.space()
	switch {
	case d.eat(','):
		return true, true
	case d.eat(end):
		return false, true
	}
	return false, false
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

// skip reads one JSON value, checking it as encoding/json's scanner does
// (jsonscan.Skip; the nesting bound there never binds, as every body has
// passed checkJSON's smaller depth limit before it is decoded).
func (d *fastDecoder) skip() bool {
	end, ok := jsonscan.Skip(d.data, d.pos)
	d.pos = end
	return ok
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return false
	}
	d.pos += len(lit)
	return true
}
