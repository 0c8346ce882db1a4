package phi

import (
	"bytes"
	"encoding/json"
)

// walkValuesReference is the walker the package used before walkValues was
// written by hand: encoding/json's token stream. It stays as the oracle of
// the differential tests: on every input walkValues accepts, both visit the
// same keys and strings in the same order.
func walkValuesReference(raw []byte, onKey func(topKey string), visit func(topKey, s string) bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errNotObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errNotObject
		}
		key, ok := tok.(string)
		if !ok {
			return errNotObject
		}
		if onKey != nil {
			onKey(key)
		}
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				return errNotObject
			}
			switch v := tok.(type) {
			case json.Delim:
				if v == '{' || v == '[' {
					depth++
				} else {
					depth--
				}
			case string:
				if !visit(key, v) {
					return nil
				}
			case json.Number:
				if !visit(key, v.String()) {
					return nil
				}
			}
			if depth == 0 {
				break
			}
		}
	}
	return nil
}
