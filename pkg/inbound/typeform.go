package inbound

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// typeformDoc is the part of a Typeform webhook the bridge reads
// (https://www.typeform.com/developers/webhooks/example-payload/). Of the
// form definition only the fields' ids and titles are read (to match
// answers by title); variables, scores and metadata are never decoded.
type typeformDoc struct {
	EventID      jstr          `json:"event_id"`
	EventType    jstr          `json:"event_type"`
	FormResponse *formResponse `json:"form_response"`
}

type formResponse struct {
	Answers []answer        `json:"answers"`
	Hidden  map[string]jstr `json:"hidden"`
	// Definition is decoded leniently (typeformTitles): a shape the bridge
	// does not expect there fails no payload.
	Definition json.RawMessage `json:"definition"`
}

type answer struct {
	Field struct {
		ID  jstr `json:"id"`
		Ref jstr `json:"ref"`
	} `json:"field"`
	Type        jstr            `json:"type"`
	Text        jstr            `json:"text"`
	Email       jstr            `json:"email"`
	PhoneNumber jstr            `json:"phone_number"`
	Date        jstr            `json:"date"`
	URL         jstr            `json:"url"`
	Number      json.RawMessage `json:"number"`
	Boolean     json.RawMessage `json:"boolean"`
	Choice      struct {
		Label jstr `json:"label"`
		Other jstr `json:"other"`
	} `json:"choice"`
	Choices struct {
		Labels strs `json:"labels"`
		Other  jstr `json:"other"`
	} `json:"choices"`
}

// value returns the answer as a string, by its type: a choice's label (or
// its "other" text), the labels of several choices joined with ", ", a
// number as written, a boolean as "true" or "false". Files, payments and
// unknown types are not text: ok is false, and the answer is reported if
// it is mapped.
func (a *answer) value() (jstr, bool) {
	switch a.Type.v {
	case "text":
		return a.Text, true
	case "email":
		return a.Email, true
	case "phone_number":
		return a.PhoneNumber, true
	case "date":
		return a.Date, true
	case "url":
		return a.URL, true
	case "choice":
		if a.Choice.Other.set {
			return a.Choice.Other, true
		}
		return a.Choice.Label, true
	case "choices":
		if a.Choices.Labels.bad {
			return jstr{}, false
		}
		labels := make([]string, 0, len(a.Choices.Labels.items)+1)
		for _, l := range append(a.Choices.Labels.items, a.Choices.Other) {
			if l.bad {
				return jstr{}, false
			}
			if l.set && strings.TrimSpace(l.v) != "" {
				labels = append(labels, l.v)
			}
		}
		if len(labels) == 0 {
			return jstr{}, true
		}
		return text(strings.Join(labels, ", ")), true
	case "number":
		return scalarText(a.Number)
	case "boolean":
		return scalarText(a.Boolean)
	}
	return jstr{}, false
}

// scalarText reads a JSON number or boolean answer as text.
func scalarText(raw json.RawMessage) (jstr, bool) {
	if len(raw) > 0 && (raw[0] == '[' || raw[0] == '{' || raw[0] == '"') {
		return jstr{}, false
	}
	v := valueText(raw, nil)
	return v, !v.bad
}

// FieldMap key prefixes of Typeform: hidden fields, and answers matched by
// field id or question title (older deliveries carry no field.ref).
const (
	hiddenPrefix = "hidden."
	idPrefix     = "id:"
	titlePrefix  = "title:"
)

// typeformTitles maps field ids to question titles from
// form_response.definition.fields; a malformed definition gives none.
func typeformTitles(def json.RawMessage) map[string]string {
	var d struct {
		Fields []json.RawMessage `json:"fields"`
	}
	if len(def) == 0 || def[0] != '{' || json.Unmarshal(def, &d) != nil {
		return nil
	}
	m := make(map[string]string, len(d.Fields))
	for _, raw := range d.Fields {
		var f struct {
			ID    jstr `json:"id"`
			Title jstr `json:"title"`
		}
		if json.Unmarshal(raw, &f) == nil && f.ID.v != "" && f.Title.set {
			m[f.ID.v] = strings.TrimSpace(f.Title.v)
		}
	}
	return m
}

// typeformKeys are the field map keys an answer is known by: its ref, then
// "id:<field id>", then "title:<question title>". A ref that looks like one
// of the prefixed keys stands for nothing, so an answer cannot pose as a
// hidden field or as another question.
func typeformKeys(a *answer, titles map[string]string) []string {
	ref := a.Field.Ref.v
	if strings.HasPrefix(ref, hiddenPrefix) || strings.HasPrefix(ref, idPrefix) || strings.HasPrefix(ref, titlePrefix) {
		ref = ""
	}
	keys := []string{ref, "", ""}
	if id := a.Field.ID.v; id != "" {
		keys[1] = idPrefix + id
		if t := titles[id]; t != "" {
			keys[2] = titlePrefix + t
		}
	}
	return keys
}

func parseTypeform(body []byte, opts Options, p *parsed) (Result, error) {
	var d typeformDoc
	if err := decodeErr(json.Unmarshal(body, &d), p, "", nil); err != nil {
		return Result{}, err
	}
	res := Result{EventID: eventID(d.EventID.v)}
	if d.EventType.v != "form_response" {
		// form_response_partial included: a partial answer is not a record.
		p.problem("event_type")
		return res, nil
	}
	if d.FormResponse == nil {
		p.problem("form_response")
		return res, nil
	}
	fa := formAnswers{eventID: res.EventID, kind: opts.Kind}
	titles := typeformTitles(d.FormResponse.Definition)
	for i := range d.FormResponse.Answers {
		a := &d.FormResponse.Answers[i]
		v, ok := a.value()
		if !ok {
			v = badValue
		}
		fa.answers = append(fa.answers, formAnswer{
			keys: typeformKeys(a, titles), path: "form_response.answers[" + strconv.Itoa(i) + "]", value: v,
		})
	}
	// Hidden fields the field map names, in a fixed order.
	var hidden []string
	for key := range opts.FieldMap {
		if strings.HasPrefix(key, hiddenPrefix) {
			hidden = append(hidden, key)
		}
	}
	slices.Sort(hidden)
	for _, key := range hidden {
		name := key[len(hiddenPrefix):]
		if v, ok := d.FormResponse.Hidden[name]; ok {
			fa.answers = append(fa.answers, formAnswer{keys: []string{key}, path: "form_response.hidden." + name, value: v})
		}
	}
	res.Skipped = mapAnswers(fa, opts, p)
	return res, nil
}
