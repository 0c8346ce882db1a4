package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"regexp"
	"strings"
)

// Bounds of a Jotform body's multipart parsing. The body itself is already
// bounded by the source's max_body_bytes.
const (
	// jotformMaxParts is the most parts read: Jotform posts about ten
	// (formID, submissionID, webhookURL, ip, formTitle, pretty, username,
	// rawRequest, type, appID). A body with more is refused.
	jotformMaxParts = 64
	// jotformMaxIDLen bounds the submissionID part.
	jotformMaxIDLen = 256
)

// jotformAnswerKey is the shape of an answer's key in rawRequest:
// "q<question number>_<unique name>" (q3_fullName, q5_email). Other keys
// (slug, event_id, path, timeToSubmit...) are Jotform's own.
var jotformAnswerKey = regexp.MustCompile(`^q[0-9]+_`)

// parseJotform reads a Jotform webhook
// (https://www.jotform.com/help/245-how-to-setup-a-webhook-with-jotform/):
// multipart/form-data whose rawRequest part holds the answers as a JSON
// object keyed "q<n>_<name>", compound answers as objects (q3_fullName:
// {"first", "last"}; q4_address: {"addr_line1", "city", "state",
// "postal"}; q6_phone: {"full"}), dates as {"month", "day", "year"} (read
// as YYYY-MM-DD under the answer's own key). The field map names answers
// and their parts by dotted paths (q3_fullName.first). The event id is
// the submissionID part.
func parseJotform(body []byte, opts Options, p *parsed) (Result, error) {
	_, params, err := mime.ParseMediaType(opts.ContentType)
	if err != nil || params["boundary"] == "" {
		p.problem("$")
		return Result{}, nil
	}
	var raw, submission []byte
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || n == jotformMaxParts {
			p.problem("$")
			return Result{}, nil
		}
		var limit int64
		switch part.FormName() {
		case "rawRequest":
			limit = int64(len(body))
		case "submissionID":
			limit = jotformMaxIDLen
		default:
			continue // NextPart discards what is not read (uploads included)
		}
		b, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil || int64(len(b)) > limit {
			p.problem(part.FormName())
			return Result{}, nil
		}
		if part.FormName() == "rawRequest" {
			raw = b
		} else {
			submission = b
		}
	}
	res := Result{EventID: eventID(strings.TrimSpace(string(submission)))}
	if raw == nil {
		p.problem("rawRequest")
		return res, nil
	}
	raw, err = checkJSON(raw)
	switch {
	case errors.Is(err, ErrTooDeep):
		return Result{}, err
	case err != nil:
		p.problem("rawRequest")
		return res, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		p.problem("rawRequest")
		return res, nil
	}
	fa := formAnswers{eventID: res.EventID, kind: opts.Kind}
	flatAnswers(&fa, m, "", "rawRequest", func(k string) bool { return !jotformAnswerKey.MatchString(k) })
	res.Skipped = mapAnswers(fa, opts, p)
	return res, nil
}
