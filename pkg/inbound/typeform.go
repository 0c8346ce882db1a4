package inbound

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// typeformDoc is the part of a Typeform webhook the bridge reads. The form
// definition (question titles), variables, scores and metadata are never
// decoded.
type typeformDoc struct {
	EventID      jstr          `json:"event_id"`
	EventType    jstr          `json:"event_type"`
	FormResponse *formResponse `json:"form_response"`
}

type formResponse struct {
	Answers []answer        `json:"answers"`
	Hidden  map[string]jstr `json:"hidden"`
}

type answer struct {
	Field struct {
		Ref jstr `json:"ref"`
	} `json:"field"`
	Type        jstr `json:"type"`
	Text        jstr `json:"text"`
	Email       jstr `json:"email"`
	PhoneNumber jstr `json:"phone_number"`
	Date        jstr `json:"date"`
	URL         jstr `json:"url"`
	Choice      struct {
		Label jstr `json:"label"`
		Other jstr `json:"other"`
	} `json:"choice"`
	Choices struct {
		Labels strs `json:"labels"`
		Other  jstr `json:"other"`
	} `json:"choices"`
}

// value returns the answer as a string, by its type. Numbers, booleans,
// files, payments and multiple choices are not strings NovaMed takes:
// ok is false and the caller reports the answer.
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
		if len(a.Choices.Labels.items) == 1 && !a.Choices.Other.set {
			return a.Choices.Labels.items[0], true
		}
	}
	return jstr{}, false
}

// hiddenPrefix marks FieldMap keys that name Typeform hidden fields.
const hiddenPrefix = "hidden."

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
	for i := range d.FormResponse.Answers {
		a := &d.FormResponse.Answers[i]
		ref := a.Field.Ref.v
		if strings.HasPrefix(ref, hiddenPrefix) {
			ref = "" // an answer never stands for a hidden field
		}
		v, ok := a.value()
		if !ok {
			v = badValue
		}
		fa.answers = append(fa.answers, formAnswer{
			keys: []string{ref}, path: "form_response.answers[" + strconv.Itoa(i) + "]", value: v,
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
