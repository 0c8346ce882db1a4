package inbound

import (
	"encoding/json"
	"slices"

	"github.com/novamed/bridge/pkg/novamed"
)

type formDoc struct {
	Type    jstr            `json:"type"`
	EventID jstr            `json:"event_id"`
	Fields  map[string]jstr `json:"fields"`
}

// keyedSource maps NovaMed fields to the payload paths they came from.
type keyedSource map[string]string

func (s keyedSource) path(field string) string { return s[field] }

func parseForm(body []byte, opts Options, p *parsed) (Result, error) {
	var d formDoc
	if err := decodeErr(json.Unmarshal(body, &d), p, "", nil); err != nil {
		return Result{}, err
	}
	res := Result{EventID: eventID(d.EventID.v)}
	kind, ok := formKind(d.Type, opts.Kind)
	if !ok {
		p.problem("type")
		return res, nil
	}
	if d.Fields == nil {
		p.problem("fields")
		return res, nil
	}
	fa := formAnswers{eventID: res.EventID, kind: kind, identity: true}
	// Sorted, so that problems and conflicts come out the same every time.
	keys := make([]string, 0, len(d.Fields))
	for k := range d.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		fa.answers = append(fa.answers, formAnswer{keys: []string{key}, path: "fields." + key, value: d.Fields[key]})
	}
	res.Skipped = mapAnswers(fa, opts, p)
	return res, nil
}

// formKind decides the record kind of a form payload from its "type" and
// the source's fixed kind (empty if the source has none). A source with a
// fixed kind lets senders whose form tool cannot add a "type" field leave
// it out; a "type" that says otherwise is refused rather than overridden,
// because the sender meant another record. ok is false when the payload's
// "type" is malformed, unknown or contradicts fixed, or when neither says.
func formKind(t jstr, fixed novamed.Kind) (novamed.Kind, bool) {
	if t.bad {
		return "", false
	}
	// An empty "type" is what a form tool sends for a blank hidden field:
	// it says nothing, like an absent one.
	if !t.set || t.v == "" {
		return fixed, tableFor(fixed) != nil
	}
	kind := novamed.Kind(t.v)
	if tableFor(kind) == nil || fixed != "" && kind != fixed {
		return "", false
	}
	return kind, true
}

// assign stores one sender value in a record field. Two sender fields that
// map to the same NovaMed field with different values are both reported:
// picking one would be a guess.
func assign(rec novamed.Record, src keyedSource, target, path string, v jstr, p *parsed) {
	if v.bad {
		// Point the field's validation failure (required) here as well.
		src[target] = path
		p.problem(path)
		return
	}
	if !v.set {
		return
	}
	val := normalize(target, v.v)
	if prev, ok := src[target]; ok && get(rec, target) != val {
		p.problem(prev)
		p.problem(path)
		return
	}
	src[target] = path
	set(rec, target, val)
}
