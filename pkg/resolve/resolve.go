package resolve

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"

	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/inbound"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/source"
)

// Names of the SSM parameters the resolver reads, relative to PARAM_PREFIX.
const (
	ParamClinicID     = "clinic-id"
	ParamPseudonymKey = "pseudonym-key"
	ParamSources      = "sources"
)

// Codes of the resolver's own refusals.
const (
	CodeNotFoundInEHR = "not_found_in_ehr"
	CodeUnknownSource = "unknown_source"
	CodeNoFHIRServer  = "no_fhir_server"
	CodeInvalidSource = "invalid_source"
	CodeUnmappable    = "unmappable_resource"
	CodeParams        = "params_unavailable"
)

// Params reads SSM parameters by name relative to the prefix
// (*params.Cache).
type Params interface {
	Get(ctx context.Context, name string) (string, error)
}

// Resolver is a delivery.Resolver over the sources' FHIR servers. It is
// safe for concurrent use.
type Resolver struct {
	params Params
	pool   *ehr.Pool

	mu      sync.Mutex
	sources map[string]parsedSource // by name; re-parsed when the text changes
}

type parsedSource struct {
	digest [sha256.Size]byte
	src    *source.Source
	err    error
}

// New returns a Resolver reading sources and keys through p and fetching
// through pool (one fetcher, so one cached token, per source).
func New(p Params, pool *ehr.Pool) *Resolver {
	return &Resolver{params: p, pool: pool, sources: map[string]parsedSource{}}
}

var _ delivery.Resolver = (*Resolver)(nil)

// Resolve fetches what a reference message names and returns the message
// to deliver: the same id and source, the person's kind, the record as
// mapped (not yet de-identified: the pipeline's guard does that), its
// subject key and field digests.
func (r *Resolver) Resolve(ctx context.Context, body string) (queue.Message, error) {
	m, err := queue.Decode(body)
	if err != nil {
		return queue.Message{}, err
	}
	if m.Kind != queue.KindReference {
		return m, nil
	}
	src, err := r.source(ctx, m.Source)
	if err != nil {
		return queue.Message{}, err
	}
	f, err := r.pool.Fetcher(m.Source, src.FHIRServer)
	if err != nil {
		return queue.Message{}, &delivery.ResolveError{Class: queue.ClassPermanent, Code: CodeInvalidSource}
	}
	res, err := f.Fetch(ctx, m.Reference)
	if err != nil {
		return queue.Message{}, fetchError(err)
	}
	clinic, err := r.params.Get(ctx, ParamClinicID)
	if err != nil {
		return queue.Message{}, paramsError(err)
	}
	parsed, err := inbound.Parse(inbound.FormatFHIR, res.Body, inbound.Options{
		ClinicID: clinic, SubjectSystem: src.SubjectIdentifier,
	})
	clear(res.Body)
	if err != nil || len(parsed.Records) != 1 {
		return queue.Message{}, &delivery.ResolveError{Class: queue.ClassPermanent, Code: CodeUnmappable}
	}
	rec := parsed.Records[0]
	if rec.Hold != nil {
		return queue.Message{}, &delivery.ResolveError{Class: queue.ClassHeld, Code: rec.Hold.Reason, Fields: queue.CapFields(rec.Hold.Fields)}
	}
	rawKey, err := r.params.Get(ctx, ParamPseudonymKey)
	if err != nil {
		return queue.Message{}, paramsError(err)
	}
	key, err := phi.ParsePseudonymKey(rawKey)
	if err != nil {
		return queue.Message{}, &delivery.ResolveError{Class: "retryable", Code: CodeParams, Retry: true}
	}
	recBody, err := rec.Body()
	if err != nil {
		return queue.Message{}, &delivery.ResolveError{Class: queue.ClassPermanent, Code: CodeUnmappable}
	}
	out := m
	out.Kind, out.Reference, out.Record, out.Deidentified = rec.Kind, "", recBody, false
	out.Subject = subjectKey(key, m.Source, rec, res)
	if out.Digests, err = queue.FieldDigests(key, recBody); err != nil {
		return queue.Message{}, &delivery.ResolveError{Class: queue.ClassPermanent, Code: CodeUnmappable}
	}
	return out, nil
}

// subjectKey names the fetched person as intake names a posted one: a
// practitioner by NPI, anyone else by the source's identifier system or
// the resource's Type/id within the source.
func subjectKey(key []byte, sourceName string, rec inbound.Record, res *ehr.Resource) string {
	switch {
	case rec.Kind == novamed.KindPractitioner && novamed.IsNPI(rec.Practitioner.NPINumber):
		return queue.SubjectKey(key, "npi", rec.Practitioner.NPINumber)
	case rec.Subject != "":
		return queue.SubjectKey(key, "source", sourceName, rec.Subject)
	default:
		return queue.SubjectKey(key, "source", sourceName, res.Type+"/"+res.ID)
	}
}

// source returns the parsed definition of the source called name, parsed
// again only when its text changed. Only a digest of the text is kept.
func (r *Resolver) source(ctx context.Context, name string) (*source.Source, error) {
	raw, err := r.params.Get(ctx, ParamSources+"/"+name)
	switch {
	case errors.Is(err, params.ErrNotFound):
		return nil, &delivery.ResolveError{Class: queue.ClassPermanent, Code: CodeUnknownSource}
	case err != nil:
		return nil, paramsError(err)
	}
	d := sha256.Sum256([]byte(raw))
	r.mu.Lock()
	cur, ok := r.sources[name]
	r.mu.Unlock()
	if !ok || cur.digest != d {
		src, perr := source.Parse(name, []byte(raw))
		cur = parsedSource{digest: d, src: src, err: perr}
		r.mu.Lock()
		r.sources[name] = cur
		r.mu.Unlock()
	}
	switch {
	case cur.err != nil:
		// An operator's mistake: retried, so the record waits for the fix.
		return nil, &delivery.ResolveError{Class: "retryable", Code: CodeInvalidSource, Retry: true}
	case cur.src.FHIRServer == nil:
		return nil, &delivery.ResolveError{Class: queue.ClassPermanent, Code: CodeNoFHIRServer}
	}
	return cur.src, nil
}

// fetchError says what a failed fetch means for the record.
func fetchError(err error) error {
	var ee *ehr.Error
	if !errors.As(err, &ee) {
		return &delivery.ResolveError{Class: "retryable", Code: "ehr_unavailable", Retry: true}
	}
	code := ee.Code
	if !queue.ValidSlug(code) {
		code = "ehr_error"
	}
	switch ee.Class {
	case ehr.NotFound:
		return &delivery.ResolveError{Class: queue.ClassHeld, Code: CodeNotFoundInEHR}
	case ehr.Unauthorized:
		// Refused even with a fresh token: an operator fixes the client's
		// registration; retried meanwhile, exhausted at the end.
		return &delivery.ResolveError{Class: "unauthorized", Code: "ehr_" + code, Retry: true}
	case ehr.Retryable:
		return &delivery.ResolveError{Class: "retryable", Code: "ehr_" + code, Retry: true, RetryAfter: ee.RetryAfter}
	default:
		return &delivery.ResolveError{Class: queue.ClassPermanent, Code: "ehr_" + code}
	}
}

func paramsError(err error) error {
	if errors.Is(err, params.ErrNotFound) || errors.Is(err, params.ErrNotConfigured) {
		return &delivery.ResolveError{Class: "retryable", Code: "config_error", Retry: true}
	}
	return &delivery.ResolveError{Class: "retryable", Code: CodeParams, Retry: true, RetryAfter: params.RetryIn(err)}
}
