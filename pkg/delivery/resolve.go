package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/novamed/bridge/pkg/queue"
)

// KindReference is the kind of a message that names a record held by an
// EHR instead of carrying it. Only a pipeline with a Resolver accepts it.
const KindReference = "reference"

// Resolver fetches the record a reference message names (the resolve
// stage). Resolve gets the raw message body and returns the message to
// deliver, with the fetched resource as its Record (the map stage then turns
// it into a NovaMed record).
//
// An error matching queue.ErrMalformed dead-letters the message as
// malformed (permanent); a *ResolveError says what else to do (hold,
// dead-letter, retry); any other error is retried with backoff.
type Resolver interface {
	Resolve(ctx context.Context, body string) (queue.Message, error)
}

// ResolveError is a Resolver's value-free account of why a reference did
// not become a record: the EHR does not have it (Class held, Code
// not_found_in_ehr), the fetched person cannot be taken as they stand
// (Class held with the reason), the reference is refused (Class permanent),
// or the EHR is unavailable for now (Retry, with RetryAfter when the EHR
// said).
type ResolveError struct {
	Class, Code string
	Fields      []string
	Retry       bool
	RetryAfter  time.Duration
}

func (e *ResolveError) Error() string {
	return "delivery: reference not resolved: " + e.Class + "/" + e.Code
}

// resolve decodes the queue message. A reference message goes to the
// Resolver; without one it falls through to queue.Decode, which refuses
// its kind as malformed, as for any other unknown kind.
func (p *Pipeline) resolve(ctx context.Context, r *Record) Verdict {
	var (
		m   queue.Message
		err error
	)
	if p.resolver != nil && isReference(r.SQS.Body) {
		m, err = p.resolver.Resolve(ctx, r.SQS.Body)
		var re *ResolveError
		switch {
		case errors.As(err, &re):
			// The reference itself is a valid message: keep it for the
			// report and the dead letter's attributes (it holds no PHI).
			if ref, derr := queue.Decode(r.SQS.Body); derr == nil {
				r.Result.Msg = &ref
			}
			r.Result.Class, r.Result.Code, r.Result.Fields = re.Class, re.Code, re.Fields
			if re.Class == queue.ClassHeld {
				p.metrics.Count(MetricHeld, 1)
				p.metrics.Count(MetricHeld, 1, "Reason", re.Code)
			}
			if re.Retry {
				r.Result.RetryAfter = re.RetryAfter
				return Retry
			}
			return DeadLetter
		case err != nil && !errors.Is(err, queue.ErrMalformed):
			r.Result.Class, r.Result.Code = "retryable", "resolve_unavailable"
			return Retry
		case err == nil:
			p.metrics.Count(MetricFetched, 1)
		}
	} else {
		m, err = queue.Decode(r.SQS.Body)
	}
	if err != nil {
		r.Result.Class, r.Result.Code = queue.ClassMalformed, malformedCode(err)
		return DeadLetter
	}
	r.Result.Msg = &m
	return Next
}

// isReference reports whether body's kind is KindReference.
func isReference(body string) bool {
	var head struct {
		Kind string `json:"kind"`
	}
	return json.Unmarshal([]byte(body), &head) == nil && head.Kind == KindReference
}

// malformedCode turns a queue.MalformedError into a slug such as
// "record_required" or "not_json". Fields are the contract's own keys.
func malformedCode(err error) string {
	var me *queue.MalformedError
	if !errors.As(err, &me) {
		return "malformed"
	}
	s := me.Reason
	if me.Field != "" {
		s = me.Field + "_" + me.Reason
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		default:
			out = append(out, '_')
		}
	}
	if code := string(out); queue.ValidSlug(code) {
		return code
	}
	return "malformed"
}
