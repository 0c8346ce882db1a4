package phi

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

var errNotObject = errors.New("phi: not a JSON object")

// walkValues calls onKey (if not nil) with each top-level key, and visit
// with the top-level key and each string found under it: object keys at any
// depth below the top level, string values and number literals (as
// written). visit returns false to stop.
//
// It reads raw in one pass without building tokens: the tripwire runs it on
// every record, twice. Strings are decoded exactly as encoding/json decodes
// them (a string with an escape or invalid UTF-8 is handed to
// json.Unmarshal), so the values it visits are the ones a decoder sees. The
// object must be well-formed up to its closing brace; what follows the
// brace is not read. Malformed input is an error, never a partial walk
// reported as complete. Nesting depth is bounded only by len(raw).
func walkValues(raw []byte, onKey func(topKey string), visit func(topKey, s string) bool) error {
	var top string
	return walkBytes(raw, func(k []byte) {
		top = string(k)
		if onKey != nil {
			onKey(top)
		}
	}, func(_, s []byte) bool { return visit(top, string(s)) })
}

// walkBytes is walkValues handing over bytes instead of strings: a plain
// string or a number is a slice of raw, anything else a decoded copy. The
// callbacks must not keep the slices. The tripwire's check reads every
// value of every record this way without allocating for each.
func walkBytes(raw []byte, onKey func(topKey []byte), visit func(topKey, s []byte) bool) error {
	w := walker{data: raw}
	w.space()
	if !w.eat('{') {
		return errNotObject
	}
	w.space()
	if w.eat('}') {
		return nil
	}
	for {
		w.space()
		key, ok := w.str()
		if !ok {
			return errNotObject
		}
		if onKey != nil {
			onKey(key)
		}
		w.space()
		if !w.eat(':') {
			return errNotObject
		}
		stopped, ok := w.value(key, visit)
		if !ok {
			return errNotObject
		}
		if stopped {
			return nil
		}
		w.space()
		switch {
		case w.eat(','):
		case w.eat('}'):
			return nil
		default:
			return errNotObject
		}
	}
}

// walker is a cursor over one JSON text.
type walker struct {
	data  []byte
	pos   int
	stack []byte // open containers of the current value: '{' or '['
}

func (w *walker) space() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// eat consumes c if it is the next byte.
func (w *walker) eat(c byte) bool {
	if w.pos < len(w.data) && w.data[w.pos] == c {
		w.pos++
		return true
	}
	return false
}

// value reads one JSON value and visits, in order, the keys, strings and
// numbers in it. It reports whether visit asked to stop and whether the
// value was well-formed.
func (w *walker) value(top []byte, visit func(topKey, s []byte) bool) (stopped, ok bool) {
	w.stack = w.stack[:0]
	for {
		// A value is expected here.
		w.space()
		if w.pos >= len(w.data) {
			return false, false
		}
		switch c := w.data[w.pos]; {
		case c == '{':
			w.pos++
			w.space()
			if !w.eat('}') {
				w.stack = append(w.stack, '{')
				stop, ok := w.member(top, visit)
				if stop || !ok {
					return stop, ok
				}
				continue // the member's value
			}
		case c == '[':
			w.pos++
			w.space()
			if !w.eat(']') {
				w.stack = append(w.stack, '[')
				continue // the first element
			}
		case c == '"':
			s, ok := w.str()
			if !ok {
				return false, false
			}
			if !visit(top, s) {
				return true, true
			}
		case c == '-' || '0' <= c && c <= '9':
			n, ok := w.number()
			if !ok {
				return false, false
			}
			if !visit(top, n) {
				return true, true
			}
		case c == 't':
			if !w.literal("true") {
				return false, false
			}
		case c == 'f':
			if !w.literal("false") {
				return false, false
			}
		case c == 'n':
			if !w.literal("null") {
				return false, false
			}
		default:
			return false, false
		}
		// A value has ended: close containers until one continues.
		for {
			if len(w.stack) == 0 {
				return false, true
			}
			w.space()
			if w.pos >= len(w.data) {
				return false, false
			}
			open := w.stack[len(w.stack)-1]
			c := w.data[w.pos]
			w.pos++
			if c == ',' {
				if open == '{' {
					stop, ok := w.member(top, visit)
					if stop || !ok {
						return stop, ok
					}
				}
				break
			}
			if open == '{' && c == '}' || open == '[' && c == ']' {
				w.stack = w.stack[:len(w.stack)-1]
				continue
			}
			return false, false
		}
	}
}

// member reads a nested object's key and the colon after it, visiting the key.
func (w *walker) member(top []byte, visit func(topKey, s []byte) bool) (stopped, ok bool) {
	w.space()
	k, ok := w.str()
	if !ok {
		return false, false
	}
	if !visit(top, k) {
		return true, true
	}
	w.space()
	return false, w.eat(':')
}

// str reads a string literal. Plain strings (no escape, valid UTF-8) are
// returned as they are, a slice of the data; any other is decoded by
// encoding/json itself, so escapes, surrogates and invalid bytes come out
// exactly as a decoder produces them.
func (w *walker) str() ([]byte, bool) {
	if !w.eat('"') {
		return nil, false
	}
	start := w.pos
	plain, ascii := true, true
	for w.pos < len(w.data) {
		c := w.data[w.pos]
		switch {
		case c == '"':
			body := w.data[start:w.pos]
			w.pos++
			if plain && (ascii || utf8.Valid(body)) {
				return body, true
			}
			var s string
			if json.Unmarshal(w.data[start-1:w.pos], &s) != nil {
				return nil, false
			}
			return []byte(s), true
		case c == '\\':
			plain = false
			w.pos += 2 // the escaped byte cannot end the string; json.Unmarshal checks the escape
			continue
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		w.pos++
	}
	return nil, false
}

// number reads a number literal per RFC 8259 and returns it as written.
func (w *walker) number() ([]byte, bool) {
	start := w.pos
	w.eat('-')
	switch {
	case w.eat('0'):
	case w.digits() == 0:
		return nil, false
	}
	if w.eat('.') && w.digits() == 0 {
		return nil, false
	}
	if w.eat('e') || w.eat('E') {
		if !w.eat('+') {
			w.eat('-')
		}
		if w.digits() == 0 {
			return nil, false
		}
	}
	return w.data[start:w.pos], true
}

func (w *walker) digits() int {
	n := 0
	for w.pos < len(w.data) && '0' <= w.data[w.pos] && w.data[w.pos] <= '9' {
		w.pos++
		n++
	}
	return n
}

func (w *walker) literal(lit string) bool {
	if len(w.data)-w.pos < len(lit) || string(w.data[w.pos:w.pos+len(lit)]) != lit {
		return false
	}
	w.pos += len(lit)
	return true
}
