package inbound

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Reasons an entry or a resource is skipped (Result.SkippedBy).
const (
	SkipOtherResource = "other_resource" // not a Patient or Practitioner
	SkipNoResource    = "no_resource"    // a delete, an id-only entry, a GET
	SkipNotRecord     = "not_a_record"   // a search include, a GET or DELETE, not the message's focus
	SkipContext       = "context"        // a Practitioner beside a Patient: the GP, an author
	SkipDuplicate     = "duplicate"      // the same resource again in one bundle
	SkipResponse      = "response"       // a transaction or batch response: nothing is new
	SkipInvalid       = "invalid_entry"  // an entry whose resource is not an object
)

func parseFHIR(body []byte, opts Options, p *parsed) (Result, error) {
	var r resource
	err := decodeResource(body, &r)
	rt := r.ResourceType.v
	if err := decodeErr(err, p, "", relevantTo(rt)); err != nil {
		return Result{}, err
	}
	switch rt {
	case resPatient, resPractitioner:
		// Shape errors found while decoding belong to this record (index
		// 0, the one mapResource adds).
		mapResource(&r, "", "", opts, p)
		return Result{}, nil
	case resBundle:
		return parseBundle(&r, opts, p)
	default:
		// Not a format the source takes: the sender's configuration.
		p.problem("resourceType")
		return Result{}, nil
	}
}

func relevantTo(resourceType string) func(string) bool {
	return func(top string) bool { return relevantFields[resourceType][top] }
}

// head is what the bundle rules need to know of an entry's resource.
type head struct {
	ResourceType jstr `json:"resourceType"`
	ID           jstr `json:"id"`
}

// candidate is an entry that may hold a record.
type candidate struct {
	i   int
	typ string // resourceType
	key string // identity within the bundle: Type/id, else fullUrl
}

func parseBundle(b *resource, opts Options, p *parsed) (Result, error) {
	res := Result{EventID: eventID(b.ID.v)}
	entries := b.Entry
	var picked []int // entry indices that may be records, by the bundle's rules
	switch typ := b.Type.v; typ {
	case "history", "subscription-notification":
		if len(entries) > 0 {
			if n, ok := notificationType(entries[0].Resource); ok {
				return parseNotification(b, n, opts, p)
			}
		}
		if typ == "subscription-notification" {
			p.problem("entry[0].resource")
			return Result{}, nil
		}
		// A plain history: versions of resources, newest first; the
		// duplicate rule keeps one record per resource.
		picked = all(len(entries))
	case "transaction", "batch":
		for i := range entries {
			switch strings.ToUpper(entries[i].Request.Method.v) {
			case "POST", "PUT", "":
				// A create or an update; an entry without a request is
				// read as what it carries.
				picked = append(picked, i)
			default:
				res.skip(SkipNotRecord)
			}
		}
	case "searchset":
		for i := range entries {
			if m := entries[i].Search.Mode.v; m == "" || m == "match" {
				picked = append(picked, i)
			} else {
				res.skip(SkipNotRecord)
			}
		}
	case "collection":
		picked = all(len(entries))
	case "message":
		picked = focusEntries(entries, "MessageHeader", &res, func(r *resource) []string {
			refs := make([]string, 0, len(r.Focus))
			for _, f := range r.Focus {
				refs = append(refs, f.Reference.v)
			}
			return refs
		})
	case "document":
		picked = focusEntries(entries, "Composition", &res, func(r *resource) []string {
			return subjectRefs(r.Subject)
		})
	case "transaction-response", "batch-response":
		for range entries {
			res.skip(SkipResponse)
		}
		return res, nil
	default:
		p.problem("type")
		return Result{}, nil
	}
	mapEntries(entries, picked, opts, p, &res)
	return res, nil
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// focusEntries resolves the references that the bundle's first resource
// (a MessageHeader or a Composition) names to entries of the bundle; the
// other entries are skipped.
func focusEntries(entries []entry, first string, res *Result, refs func(*resource) []string) []int {
	if len(entries) == 0 {
		return nil
	}
	var r resource
	if raw := entries[0].Resource; len(raw) == 0 || raw[0] != '{' || decodeResource(raw, &r) != nil || r.ResourceType.v != first {
		// Not the bundle the type promises: read it as a collection.
		return all(len(entries))
	}
	want := map[string]bool{}
	for _, ref := range refs(&r) {
		want[ref] = true
		want[relativeTail(ref)] = true
	}
	var out []int
	res.skip(SkipNotRecord) // the header itself
	for i := 1; i < len(entries); i++ {
		if matchesRef(&entries[i], want) {
			out = append(out, i)
		} else {
			res.skip(SkipNotRecord)
		}
	}
	return out
}

// matchesRef reports whether an entry is named by one of the references:
// by its fullUrl, or by Type/id (relative, or the tail of an absolute URL;
// want holds both forms).
func matchesRef(e *entry, want map[string]bool) bool {
	if e.FullURL.v != "" && want[e.FullURL.v] {
		return true
	}
	var h head
	if len(e.Resource) == 0 || json.Unmarshal(e.Resource, &h) != nil || h.ID.v == "" {
		return false
	}
	// want holds every reference and its Type/id tail: one lookup, so a
	// bundle of many entries and many references stays linear.
	return want[h.ResourceType.v+"/"+h.ID.v]
}

// relativeTail is the Type/id at the end of a reference (relative or
// absolute, with or without a _history part).
func relativeTail(ref string) string {
	ref, _, _ = strings.Cut(ref, "/_history")
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) < 2 {
		return ref
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// subjectRefs reads Composition.subject, a Reference (R4) or a list (R5).
func subjectRefs(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	if raw[0] == '[' {
		var list []reference
		_ = json.Unmarshal(raw, &list)
		out := make([]string, 0, len(list))
		for _, r := range list {
			out = append(out, r.Reference.v)
		}
		return out
	}
	var one reference
	_ = json.Unmarshal(raw, &one)
	return []string{one.Reference.v}
}

// mapEntries maps the picked entries: Patients are the records when there
// is one (Practitioners beside them are context), else Practitioners; the
// same resource twice is one record.
func mapEntries(entries []entry, picked []int, opts Options, p *parsed, res *Result) {
	var cands []candidate
	patients := false
	for _, i := range picked {
		e := &entries[i]
		raw := bytes.TrimSpace(e.Resource)
		switch {
		case len(raw) == 0 || raw[0] == 'n':
			res.skip(SkipNoResource)
			continue
		case raw[0] != '{':
			res.skip(SkipInvalid)
			continue
		}
		var h head
		_ = json.Unmarshal(raw, &h) // a malformed entry shows when mapped
		switch h.ResourceType.v {
		case resPatient:
			patients = true
		case resPractitioner:
		default:
			res.skip(SkipOtherResource)
			continue
		}
		key := ""
		if h.ID.v != "" {
			key = h.ResourceType.v + "/" + h.ID.v
		} else if e.FullURL.v != "" {
			key = e.FullURL.v
		}
		cands = append(cands, candidate{i: i, typ: h.ResourceType.v, key: key})
	}
	seen := map[string]bool{}
	for _, c := range cands {
		if patients && c.typ == resPractitioner {
			res.skip(SkipContext)
			continue
		}
		if c.key != "" {
			if seen[c.key] {
				res.skip(SkipDuplicate)
				continue
			}
			seen[c.key] = true
		}
		prefix := "entry[" + strconv.Itoa(c.i) + "].resource."
		var r resource
		err := decodeResource(entries[c.i].Resource, &r)
		// Shape errors of this entry belong to the record about to be added.
		_ = decodeErr(err, p, prefix, relevantTo(c.typ))
		mapResource(&r, prefix, entries[c.i].FullURL.v, opts, p)
	}
}

// notificationType reads the type of a subscription status resource (R4
// backport Parameters, R4B/R5 SubscriptionStatus); ok is false when raw is
// no such resource.
func notificationType(raw json.RawMessage) (Notification, bool) {
	var r resource
	if len(raw) == 0 || raw[0] != '{' || decodeResource(raw, &r) != nil {
		return "", false
	}
	switch r.ResourceType.v {
	case "Parameters":
		for i := range r.Parameter {
			if r.Parameter[i].Name.v == "type" {
				return Notification(r.Parameter[i].ValueCode.v), true
			}
		}
		return "", true
	case "SubscriptionStatus":
		return Notification(r.Type.v), true
	}
	return "", false
}

// parseNotification reads a subscription notification: the status resource
// first, then (event notifications) the resources or references of the
// events. Records are the Patients and Practitioners included in full;
// when there are none, References are what the events point at, for a
// source that fetches them.
func parseNotification(b *resource, n Notification, opts Options, p *parsed) (Result, error) {
	res := Result{Notification: n}
	switch n {
	case NotificationHandshake, NotificationHeartbeat, NotificationEvent, NotificationQueryStatus, NotificationQueryEvent:
	default:
		p.problem("entry[0].resource")
		return Result{}, nil
	}
	status, focus := notificationStatus(b.Entry[0].Resource)
	res.EventID = eventID(status)
	if res.EventID == "" {
		res.EventID = eventID(b.ID.v)
	}
	if n.StatusOnly() {
		for range b.Entry[1:] {
			res.skip(SkipNotRecord)
		}
		return res, nil
	}
	before := len(p.recs)
	mapEntries(b.Entry, all(len(b.Entry))[1:], opts, p, &res)
	if len(p.recs) > before {
		return res, nil
	}
	// Nothing included in full: what the events point at.
	seen := map[string]bool{}
	addRef := func(ref string) {
		if ref = strings.TrimSpace(ref); ref != "" && len(ref) <= maxReference && !seen[ref] {
			seen[ref] = true
			res.References = append(res.References, ref)
		}
	}
	for _, f := range focus {
		addRef(f)
	}
	if len(res.References) == 0 {
		for i := 1; i < len(b.Entry); i++ {
			if u := b.Entry[i].FullURL.v; !strings.HasPrefix(u, "urn:") {
				addRef(u)
			}
		}
	}
	return res, nil
}

// maxReference bounds a reference kept for fetching.
const maxReference = 512

// notificationStatus returns an id for the notification made of the
// subscription and event numbers (information only) and the focus
// references of its events.
func notificationStatus(raw json.RawMessage) (id string, focus []string) {
	var r resource
	_ = decodeResource(raw, &r)
	var sub string
	var events []string
	switch r.ResourceType.v {
	case "Parameters":
		for i := range r.Parameter {
			prm := &r.Parameter[i]
			switch prm.Name.v {
			case "subscription":
				sub = prm.ValueReference.Reference.v
			case "notification-event":
				for j := range prm.Part {
					switch prm.Part[j].Name.v {
					case "event-number":
						events = append(events, prm.Part[j].number())
					case "focus":
						focus = append(focus, prm.Part[j].ValueReference.Reference.v)
					}
				}
			}
		}
	case "SubscriptionStatus":
		sub = r.Subscription.Reference.v
		for _, e := range r.NotificationEvent {
			events = append(events, e.EventNumber.v)
			focus = append(focus, e.Focus.Reference.v)
		}
	}
	if sub != "" && len(events) > 0 {
		id = sub + "#" + strings.Join(events, ",")
	}
	return id, focus
}
