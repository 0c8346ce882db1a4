// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines.
//
// Lambda ships every stdout line to CloudWatch Logs, and CloudWatch turns EMF
// lines into metrics without an API call, so recording a metric costs no
// latency and needs no IAM permission. Dimension values are restricted to
// short slugs: a metric is no place for a record value.
package metrics

import (
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every bridge metric; template.yaml's
// alarms name it too.
const Namespace = "NovaMedBridge"

// Units used by the bridge.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// Recorder writes one EMF line per metric. It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	w    io.Writer
	base map[string]string
	now  func() time.Time
}

// New returns a Recorder writing to w with the dimensions every metric carries
// (the stage, for one).
func New(w io.Writer, base map[string]string) *Recorder {
	return &Recorder{w: w, base: base, now: time.Now}
}

// Count records n occurrences of name; dims are extra dimensions such as a
// rejection reason or a dead-letter class.
func (r *Recorder) Count(name string, n int, dims ...string) {
	r.emit(name, float64(n), UnitCount, dims)
}

// Duration records d in milliseconds.
func (r *Recorder) Duration(name string, d time.Duration, dims ...string) {
	r.emit(name, float64(d.Microseconds())/1000, UnitMilliseconds, dims)
}

// awsKey is the member holding EMF's metadata; it replaces any dimension or
// metric of that name.
const awsKey = "_aws"

// member is one top-level member of an EMF line.
type member struct {
	key   string
	value string // a dimension value (a slug or "other")
	kind  memberKind
}

type memberKind uint8

const (
	dimensionMember memberKind = iota
	metricMember               // the metric's value
	awsMember                  // the _aws metadata
)

// lines pools the buffers lines are built in.
var lines = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// emit writes the line. dims alternate key and value; a value that is not a
// slug is replaced by "other" so free text can never become a dimension.
//
// The line is what json.Marshal writes for the map
//
//	{<dimension>: <value>..., <name>: <value>, "_aws": {"Timestamp": <ms>,
//	 "CloudWatchMetrics": [{"Namespace": ..., "Dimensions": [[<sorted
//	 dimension keys>]], "Metrics": [{"Name": <name>, "Unit": <unit>}]}]}}
//
// (members sorted by key, a later one of the same key replacing an earlier
// one), built by hand: it is written twice per request.
func (r *Recorder) emit(name string, value float64, unit string, dims []string) {
	if r == nil || r.w == nil {
		return
	}
	if (math.IsInf(value, 0) || math.IsNaN(value)) && name != awsKey {
		return // not representable in JSON (json.Marshal would fail too)
	}
	var arr [8]member
	members := arr[:0]
	set := func(m member) {
		for i := range members {
			if members[i].key == m.key {
				members[i] = m
				return
			}
		}
		members = append(members, m)
	}
	var keyArr [8]string
	keys := keyArr[:0]
	for k, v := range r.base {
		set(member{key: k, value: sanitize(v)})
		keys = append(keys, k)
	}
	for i := 0; i+1 < len(dims); i += 2 {
		set(member{key: dims[i], value: sanitize(dims[i+1])})
		keys = append(keys, dims[i])
	}
	slices.Sort(keys)
	set(member{key: name, kind: metricMember})
	set(member{key: awsKey, kind: awsMember})
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })

	bp := lines.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, '{')
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.key)
		b = append(b, ':')
		switch m.kind {
		case dimensionMember:
			b = appendString(b, m.value)
		case metricMember:
			b = appendFloat(b, value)
		case awsMember:
			b = append(b, `{"CloudWatchMetrics":[{"Dimensions":[`...)
			// An empty dimension set is [], never null: CloudWatch
			// rejects a null DimensionSet.
			b = append(b, '[')
			for j, k := range keys {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, k)
			}
			b = append(b, ']')
			b = append(b, `],"Metrics":[{"Name":`...)
			b = appendString(b, name)
			b = append(b, `,"Unit":`...)
			b = appendString(b, unit)
			b = append(b, `}],"Namespace":"`+Namespace+`"}],"Timestamp":`...)
			b = strconv.AppendInt(b, r.now().UnixMilli(), 10)
			b = append(b, '}')
		}
	}
	b = append(b, '}', '\n')

	// One Write per line, under the lock: lines stay whole.
	r.mu.Lock()
	_, _ = r.w.Write(b)
	r.mu.Unlock()
	if cap(b) <= 64<<10 { // a freak long name does not pin memory
		*bp = b
		lines.Put(bp)
	}
}

// appendString appends s as a JSON string exactly as encoding/json writes
// it (HTML-escaped): plain ASCII directly, anything else through json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				return append(b, `""`...) // unreachable: strings always marshal
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat appends a finite f as encoding/json writes a float64: like
// %g, with ES6's exponent cutoffs and no padding of the exponent.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// sanitize returns v if it is a slug, ^[a-z0-9][a-z0-9_.-]{0,63}$, and
// "other" otherwise: a dimension value is never free text.
func sanitize(v string) string {
	if isSlug(v) {
		return v
	}
	return "other"
}

func isSlug(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
