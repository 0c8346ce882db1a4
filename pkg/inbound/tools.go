package inbound

import (
	"encoding/json"
	"mime"
	"slices"
	"strings"
)

// isTool reports whether f is one of the form tools' own formats.
func (f Format) isTool() bool {
	return f == FormatTally || f == FormatFormstack || f == FormatJotform
}

// Form encodings a format takes besides JSON.
const (
	mediaURLEncoded = "application/x-www-form-urlencoded"
	mediaMultipart  = "multipart/form-data"
)

// bodyIsJSON reports whether a body of format f sent with Content-Type ct
// is parsed as JSON: everything but Jotform's multipart bodies and
// Formstack's URL-encoded ones.
func (f Format) bodyIsJSON(ct string) bool {
	switch f {
	case FormatJotform:
		return false
	case FormatFormstack:
		return mediaType(ct) != mediaURLEncoded
	}
	return true
}

// AcceptsContentType reports whether a source of format f takes a body sent
// with Content-Type ct. JSON (application/json, application/*+json, or no
// Content-Type, the body being sniffed) is taken by every format but
// Jotform, which posts only multipart/form-data (and needs its boundary);
// Formstack also posts application/x-www-form-urlencoded, its default.
// A charset other than UTF-8 is refused.
func (f Format) AcceptsContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return f != FormatJotform
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return false
	}
	switch {
	case f == FormatJotform:
		return mt == mediaMultipart && params["boundary"] != ""
	case f == FormatFormstack && mt == mediaURLEncoded:
		return true
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// mediaType is ct's media type, lower case, or "" when it does not parse.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// valueText reads one JSON answer value as text: a string as is (or, when
// options has it, the option's text: Tally sends choices as option ids), a
// number as written, a boolean as "true" or "false", an array of those
// joined with ", " (checkboxes). null and an empty array are no answer. An
// object, or an array holding one, cannot be text: bad.
func valueText(raw json.RawMessage, options map[string]string) jstr {
	if len(raw) == 0 {
		return jstr{}
	}
	switch c := raw[0]; {
	case c == '"':
		var s jstr
		_ = s.UnmarshalJSON(raw)
		if t, ok := options[s.v]; ok && s.set {
			return text(t)
		}
		return s
	case c == 'n':
		return jstr{}
	case c == 't' || c == 'f' || c == '-' || '0' <= c && c <= '9':
		return text(string(raw))
	case c == '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return badValue
		}
		parts := make([]string, 0, len(items))
		for _, it := range items {
			if len(it) > 0 && (it[0] == '[' || it[0] == '{') {
				return badValue
			}
			v := valueText(it, options)
			if v.bad {
				return badValue
			}
			if v.set && strings.TrimSpace(v.v) != "" {
				parts = append(parts, v.v)
			}
		}
		if len(parts) == 0 {
			return jstr{}
		}
		return text(strings.Join(parts, ", "))
	}
	return badValue
}

// flatAnswers adds the answers of a flat map of field name to value, whose
// compound fields are objects (Formstack's "Name": {"first", "last"},
// Jotform's "q3_fullName": {"first", "last"}), as answers keyed by dotted
// paths ("Name.first"), under prefix (a path, for errors). Keys are taken
// in sorted order, so problems come out the same every time. skip names
// top-level keys that are not answers (metadata, a shared secret). A date
// object ({"month", "day", "year"}, Jotform) also answers, under its own
// key, as YYYY-MM-DD.
func flatAnswers(fa *formAnswers, m map[string]json.RawMessage, key, path string, skip func(string) bool) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if key == "" && skip != nil && skip(k) {
			continue
		}
		raw := m[k]
		fk, fp := joinKey(key, k), joinKey(path, k)
		if len(raw) == 0 || raw[0] != '{' {
			fa.answers = append(fa.answers, formAnswer{keys: []string{fk}, path: fp, value: valueText(raw, nil)})
			continue
		}
		var sub map[string]json.RawMessage
		if json.Unmarshal(raw, &sub) != nil {
			fa.answers = append(fa.answers, formAnswer{keys: []string{fk}, path: fp, value: badValue})
			continue
		}
		if d, ok := dateObject(sub); ok {
			// A date is one answer; its parts may be mapped too, but are
			// not counted apart when they are not.
			fa.answers = append(fa.answers, formAnswer{keys: []string{fk}, path: fp, value: d})
			for _, k := range []string{"day", "month", "year"} {
				fa.answers = append(fa.answers, formAnswer{keys: []string{fk + "." + k}, path: fp + "." + k,
					value: valueText(sub[k], nil), whole: true})
			}
			continue
		}
		// Any other compound as a whole is no text (reported if the field
		// map names it), and is counted by its parts.
		fa.answers = append(fa.answers, formAnswer{keys: []string{fk}, path: fp, value: badValue, whole: true})
		flatAnswers(fa, sub, fk, fp, nil)
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// dateObject reads {"month", "day", "year"} (strings or numbers, as
// Jotform's date fields send them) as YYYY-MM-DD. An object with an empty
// part is no answer; one whose parts are not numbers is kept as written,
// so validation reports it.
func dateObject(m map[string]json.RawMessage) (jstr, bool) {
	if len(m) != 3 {
		return jstr{}, false
	}
	var parts [3]string
	for i, k := range []string{"year", "month", "day"} {
		raw, ok := m[k]
		if !ok {
			return jstr{}, false
		}
		v := valueText(raw, nil)
		if v.bad {
			return badValue, true
		}
		parts[i] = strings.TrimSpace(v.v)
	}
	if parts[0] == "" || parts[1] == "" || parts[2] == "" {
		if parts[0] == "" && parts[1] == "" && parts[2] == "" {
			return jstr{}, true
		}
		return badValue, true
	}
	for i := 1; i < 3; i++ {
		if len(parts[i]) == 1 {
			parts[i] = "0" + parts[i]
		}
	}
	return text(parts[0] + "-" + parts[1] + "-" + parts[2]), true
}
