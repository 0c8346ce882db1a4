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
	kind := novamed.Kind(d.Type.v)
	table := tableFor(kind)
	if table == nil {
		p.problem("type")
		return res, nil
	}
	if d.Fields == nil {
		p.problem("fields")
		return res, nil
	}
	rec := newRecord(kind, opts.ClinicID)
	src := keyedSource{}
	// Sorted, so that problems and conflicts come out the same every time.
	keys := make([]string, 0, len(d.Fields))
	for k := range d.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		target, ok := opts.FieldMap[key]
		if len(opts.FieldMap) == 0 {
			target, ok = key, true
		}
		if !ok || !table.has(target) {
			res.Skipped++
			continue
		}
		assign(rec, src, target, "fields."+key, d.Fields[key], p)
	}
	p.add(rec, src)
	return res, nil
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
