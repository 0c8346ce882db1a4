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
	"regexp"
	"sort"
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

// slug is what a dimension value may look like: never free text.
var slug = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

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

// emit writes the line. dims alternate key and value; a value that is not a
// slug is replaced by "other" so free text can never become a dimension.
func (r *Recorder) emit(name string, value float64, unit string, dims []string) {
	if r == nil || r.w == nil {
		return
	}
	line := map[string]any{}
	var keys []string
	for k, v := range r.base {
		line[k] = sanitize(v)
		keys = append(keys, k)
	}
	for i := 0; i+1 < len(dims); i += 2 {
		line[dims[i]] = sanitize(dims[i+1])
		keys = append(keys, dims[i])
	}
	sort.Strings(keys)
	line[name] = value
	line["_aws"] = map[string]any{
		"Timestamp": r.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    []any{map[string]string{"Name": name, "Unit": unit}},
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(b)
}

func sanitize(v string) string {
	if slug.MatchString(v) {
		return v
	}
	return "other"
}
