package inbound

import (
	"encoding/json"
	"strconv"
)

// tallyDoc is the part of a Tally webhook the bridge reads
// (https://tally.so/help/webhooks: {"eventId", "eventType": "FORM_RESPONSE",
// "createdAt", "data": {"responseId", "submissionId", "respondentId",
// "formId", "formName", "createdAt", "fields": [...]}}).
type tallyDoc struct {
	EventID   jstr `json:"eventId"`
	EventType jstr `json:"eventType"`
	Data      *struct {
		Fields []json.RawMessage `json:"fields"`
	} `json:"data"`
}

// tallyField is one entry of data.fields: {"key": "question_mVGEJz",
// "label": "Email", "type": "INPUT_EMAIL", "value": ...}. Choice fields
// (DROPDOWN, MULTIPLE_CHOICE, CHECKBOXES, MULTI_SELECT, RANKING) carry
// their value as option ids and list "options": [{"id", "text"}].
type tallyField struct {
	Key     jstr            `json:"key"`
	Label   jstr            `json:"label"`
	Value   json.RawMessage `json:"value"`
	Options json.RawMessage `json:"options"`
}

type tallyOption struct {
	ID   jstr `json:"id"`
	Text jstr `json:"text"`
}

// parseTally reads a Tally FORM_RESPONSE. A field is known by its key, then
// by its label: the field map may name either. Values are text by type
// (valueText): option ids are turned into the options' text, numbers and
// booleans into their written form, checkboxes into the chosen texts
// joined with ", ". The event id is eventId.
func parseTally(body []byte, opts Options, p *parsed) (Result, error) {
	var d tallyDoc
	if err := decodeErr(json.Unmarshal(body, &d), p, "", nil); err != nil {
		return Result{}, err
	}
	res := Result{EventID: eventID(d.EventID.v)}
	if p.failed() {
		return res, nil // the payload's shape is wrong: nothing to map
	}
	if d.EventType.v != "FORM_RESPONSE" {
		p.problem("eventType")
		return res, nil
	}
	if d.Data == nil {
		p.problem("data")
		return res, nil
	}
	fa := formAnswers{eventID: res.EventID, kind: opts.Kind}
	for i, raw := range d.Data.Fields {
		path := "data.fields[" + strconv.Itoa(i) + "]"
		var f tallyField
		if json.Unmarshal(raw, &f) != nil {
			// Not an object: no key to be known by, so nothing maps.
			res.Skipped++
			continue
		}
		fa.answers = append(fa.answers, formAnswer{
			keys:  []string{f.Key.v, f.Label.v},
			path:  path,
			value: valueText(f.Value, tallyOptions(f.Options)),
		})
	}
	res.Skipped += mapAnswers(fa, opts, p)
	return res, nil
}

// tallyOptions maps option ids to their text; malformed options are left
// out (the id then stays as the answer, and validation judges it).
func tallyOptions(raw json.RawMessage) map[string]string {
	if len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	m := make(map[string]string, len(list))
	for _, it := range list {
		var o tallyOption
		if json.Unmarshal(it, &o) == nil && o.ID.set && o.Text.set {
			m[o.ID.v] = o.Text.v
		}
	}
	return m
}
