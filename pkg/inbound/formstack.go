package inbound

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Formstack's own keys beside the answers
// (https://developers.formstack.com/docs/webhook-setup): the form, the
// submission (the event id), and the webhook's shared secret, which
// authenticates (webhookauth.FormstackHandshake) and is never an answer.
const (
	formstackFormID    = "FormID"
	formstackUniqueID  = "UniqueID"
	formstackHandshake = "HandshakeKey"
)

// formstackMeta reports whether a top-level key is Formstack's, not an
// answer.
func formstackMeta(k string) bool {
	return k == formstackFormID || k == formstackUniqueID || k == formstackHandshake
}

// parseFormstack reads a Formstack webhook: a flat map of field name (or
// id, or API-friendly name, as the webhook is set up) to value, with
// compound fields as objects ("Name": {"first", "last"}, "Address":
// {"address", "address2", "city", "state", "zip"}); the field map names
// their parts by dotted paths (Name.first). Formstack posts this as JSON,
// or by default as application/x-www-form-urlencoded. A compound field sent
// with sub-field names is one value of "name = value" lines ("first =
// Jo\nlast = Smith"), read as the same dotted parts. The event id is
// UniqueID.
func parseFormstack(body []byte, opts Options, p *parsed) (Result, error) {
	if mediaType(opts.ContentType) == mediaURLEncoded {
		return parseFormstackURLEncoded(body, opts, p)
	}
	var m map[string]json.RawMessage
	if err := decodeErr(json.Unmarshal(body, &m), p, "", nil); err != nil {
		return Result{}, err
	}
	if m == nil {
		p.problem("$")
		return Result{}, nil
	}
	id := valueText(m[formstackUniqueID], nil)
	res := Result{EventID: eventID(strings.TrimSpace(id.v))}
	fa := formAnswers{eventID: res.EventID, kind: opts.Kind}
	for k, raw := range m {
		// A compound field sent with sub-field names reads as its parts,
		// in JSON as in form encoding.
		var v string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			continue
		}
		if parts, ok := subfields(v); ok {
			obj := make(map[string]string, len(parts))
			for _, sf := range parts {
				obj[sf[0]] = sf[1]
			}
			if b, err := json.Marshal(obj); err == nil {
				m[k] = b
			}
		}
	}
	flatAnswers(&fa, m, "", "", formstackMeta)
	res.Skipped = mapAnswers(fa, opts, p)
	return res, nil
}

func parseFormstackURLEncoded(body []byte, opts Options, p *parsed) (Result, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		// Not form encoding: nothing in it can be trusted to be an answer.
		p.problem("$")
		return Result{}, nil
	}
	last := func(k string) string {
		if v := vals[k]; len(v) > 0 {
			return v[len(v)-1] // Formstack keeps the last of repeated names
		}
		return ""
	}
	res := Result{EventID: eventID(strings.TrimSpace(last(formstackUniqueID)))}
	fa := formAnswers{eventID: res.EventID, kind: opts.Kind}
	names := make([]string, 0, len(vals))
	for k := range vals {
		if !formstackMeta(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		v := last(k)
		parts, ok := subfields(v)
		if !ok {
			fa.answers = append(fa.answers, formAnswer{keys: []string{k}, path: k, value: text(v)})
			continue
		}
		fa.answers = append(fa.answers, formAnswer{keys: []string{k}, path: k, value: badValue, whole: true})
		for _, sf := range parts {
			fa.answers = append(fa.answers, formAnswer{keys: []string{k + "." + sf[0]}, path: k + "." + sf[0], value: text(sf[1])})
		}
	}
	res.Skipped = mapAnswers(fa, opts, p)
	return res, nil
}

// subfields splits a URL-encoded compound value, "first = Jo\nlast =
// Smith" (blank lines between parts allowed), into its named parts. ok is
// false unless every non-blank line is "<name> = <value>" with a name of
// lower-case letters, digits and '_', as Formstack's sub-field names are.
func subfields(v string) (parts [][2]string, ok bool) {
	if !strings.Contains(v, " = ") {
		return nil, false
	}
	for line := range strings.SplitSeq(v, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, val, found := strings.Cut(line, " = ")
		if !found || !subfieldName(name) {
			return nil, false
		}
		parts = append(parts, [2]string{name, val})
	}
	return parts, len(parts) > 0
}

func subfieldName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
