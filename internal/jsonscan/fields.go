package jsonscan

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
)

// StringField is a field of a struct as json.Marshal writes it: its JSON
// key, its index in the struct, and whether an empty value is left out.
type StringField struct {
	Name      string
	Index     int
	OmitEmpty bool
}

// StringFields returns t's fields in the order json.Marshal writes them,
// or nil unless t is the simple case a fast path can write or read
// without encoding/json: a struct without custom marshalling whose every
// field is an exported string with a json tag naming a distinct key of
// letters, digits and underscores (written without escaping), and at most
// the omitempty option. pkg/novamed writes request bodies with it, pkg/phi
// and pkg/queue read records' fields as their bodies carry them.
func StringFields(t reflect.Type) []StringField {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for _, m := range []reflect.Type{reflect.TypeFor[json.Marshaler](), reflect.TypeFor[encoding.TextMarshaler]()} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return nil
		}
	}
	var out []StringField
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous || f.Type != reflect.TypeFor[string]() {
			return nil
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !plainKey(name) || seen[name] || (opts != "" && opts != "omitempty") {
			return nil // no tag, "-", or a key json.Marshal escapes
		}
		seen[name] = true
		out = append(out, StringField{Name: name, Index: i, OmitEmpty: opts == "omitempty"})
	}
	return out
}

// plainKey reports whether s is a JSON key of letters, digits and
// underscores: json.Marshal writes it as it is, and it reads back so.
func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
