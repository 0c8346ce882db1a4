// Package jsonscan checks JSON text faster than encoding/json's scanner,
// with exactly its verdicts, and tells what a string reads back as after a
// JSON round trip: one place for the encoding/json rules that the fast
// paths of pkg/queue and pkg/phi must match.
package jsonscan

// maxDepth is encoding/json's nesting limit: a deeper text is invalid.
const maxDepth = 10000

// Valid reports whether data is one JSON value, surrounded by nothing but
// white space: json.Valid(data), which steps a state machine through a
// function call per byte. As for json.Valid, bytes that are not UTF-8
// are allowed inside strings. FuzzValid compares the two.
func Valid(data []byte) bool {
	v := validator{data: data}
	v.space()
	if !v.value(0) {
		return false
	}
	v.space()
	return v.pos == len(v.data)
}

// Skip reads the one JSON value that starts at data[pos] (no white space
// before it), checking it as Valid does, and returns where it ends. The
// fast decoders that read a value's bytes without decoding them call it,
// so there is one scanner to keep equal to encoding/json's.
func Skip(data []byte, pos int) (end int, ok bool) {
	v := validator{data: data, pos: pos}
	if !v.value(0) {
		return pos, false
	}
	return v.pos, true
}

type validator struct {
	data []byte
	pos  int
}

func (v *validator) space() {
	for v.pos < len(v.data) {
		switch v.data[v.pos] {
		case ' ', '\t', '\n', '\r':
			v.pos++
		default:
			return
		}
	}
}

func (v *validator) eat(c byte) bool {
	if v.pos < len(v.data) && v.data[v.pos] == c {
		v.pos++
		return true
	}
	return false
}

// value reads one value; depth is the nesting of the containers around it.
func (v *validator) value(depth int) bool {
	if v.pos >= len(v.data) {
		return false
	}
	switch c := v.data[v.pos]; {
	case c == '{':
		if depth++; depth > maxDepth {
			return false
		}
		v.pos++
		if v.space(); v.eat('}') {
			return true
		}
		for {
			if v.space(); !v.str() {
				return false
			}
			if v.space(); !v.eat(':') {
				return false
			}
			if v.space(); !v.value(depth) {
				return false
			}
			v.space()
			switch {
			case v.eat(','):
			case v.eat('}'):
				return true
			default:
				return false
			}
		}
	case c == '[':
		if depth++; depth > maxDepth {
			return false
		}
		v.pos++
		if v.space(); v.eat(']') {
			return true
		}
		for {
			if v.space(); !v.value(depth) {
				return false
			}
			v.space()
			switch {
			case v.eat(','):
			case v.eat(']'):
				return true
			default:
				return false
			}
		}
	case c == '"':
		return v.str()
	case c == '-' || '0' <= c && c <= '9':
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return false
}

// str reads a string: no control characters, valid escapes.
func (v *validator) str() bool {
	if !v.eat('"') {
		return false
	}
	for v.pos < len(v.data) {
		c := v.data[v.pos]
		v.pos++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if v.pos >= len(v.data) {
				return false
			}
			e := v.data[v.pos]
			v.pos++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(v.data)-v.pos < 4 {
					return false
				}
				for _, h := range v.data[v.pos : v.pos+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				v.pos += 4
			default:
				return false
			}
		}
	}
	return false
}

// number reads a number per RFC 8259.
func (v *validator) number() bool {
	v.eat('-')
	switch {
	case v.eat('0'):
	case v.digits() == 0:
		return false
	}
	if v.eat('.') && v.digits() == 0 {
		return false
	}
	if v.eat('e') || v.eat('E') {
		if !v.eat('+') {
			v.eat('-')
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

func (v *validator) digits() int {
	n := 0
	for v.pos < len(v.data) && '0' <= v.data[v.pos] && v.data[v.pos] <= '9' {
		v.pos++
		n++
	}
	return n
}

func (v *validator) literal(lit string) bool {
	if len(v.data)-v.pos < len(lit) || string(v.data[v.pos:v.pos+len(lit)]) != lit {
		return false
	}
	v.pos += len(lit)
	return true
}
