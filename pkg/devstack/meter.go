package devstack

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Meter measures the work the local stack does, for the cost model in
// docs/operations.md: it sits in front of kumo as a reverse proxy and counts
// every AWS API call by service and operation (with request bytes), and it
// counts the bytes the functions write to their logs (what CloudWatch Logs
// would ingest), the EMF metric lines among them, and the invocations and
// billed milliseconds the emulator reports. Start a stack with
// Options.Meter; Reset after start-up so set-up calls are not counted.
type Meter struct {
	mu      sync.Mutex
	calls   map[Call]*CallCount
	logs    LogCount
	partial []byte // a log line not yet ended

	srv *http.Server
}

// Call names one AWS API operation.
type Call struct {
	Service   string // sqs, dynamodb, ssm, or the X-Amz-Target prefix
	Operation string // SendMessageBatch, GetItem, ...
}

// CallCount is what the meter saw of one operation.
type CallCount struct {
	Calls        int
	RequestBytes int64
	MaxRequest   int64 // the largest request body: bounds a DynamoDB item's size
}

// LogCount is what the functions wrote to their logs.
type LogCount struct {
	Bytes       int64 // every line, as CloudWatch Logs ingests it (emulator lines excluded)
	Lines       int64
	EMFLines    int64 // metric lines (pkg/metrics)
	EMFBytes    int64
	Invocations int64   // REPORT lines: one per invocation
	BilledMS    float64 // the sum of the REPORT lines' durations, rounded up to 1 ms each
}

// Usage is a snapshot of a Meter.
type Usage struct {
	Calls map[Call]CallCount
	Logs  LogCount
}

// NewMeter returns a Meter that counts nothing until a stack starts with it.
func NewMeter() *Meter {
	return &Meter{calls: map[Call]*CallCount{}}
}

// start serves the proxy on a loopback port and returns its URL.
func (m *Meter) start(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("devstack: meter target: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("devstack: meter: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	// A call cut short by a stopping stack is the caller's to report.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	m.srv = &http.Server{Handler: m.count(proxy), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = m.srv.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// Close stops the proxy.
func (m *Meter) Close() {
	if m.srv != nil {
		_ = m.srv.Close()
	}
}

// maxMeteredBody bounds what the meter reads to find a query-protocol
// Action; kumo's requests are far smaller.
const maxMeteredBody = 8 << 20

// count is the middleware: it names the call, counts it, and passes the
// request on unchanged.
func (m *Meter) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMeteredBody))
		if err != nil {
			http.Error(w, "meter: reading the request failed", http.StatusBadGateway)
			return
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		m.add(callOf(r, body), int64(len(body)))
		next.ServeHTTP(w, r)
	})
}

func (m *Meter) add(c Call, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := m.calls[c]
	if cc == nil {
		cc = &CallCount{}
		m.calls[c] = cc
	}
	cc.Calls++
	cc.RequestBytes += n
	cc.MaxRequest = max(cc.MaxRequest, n)
}

// targetServices maps X-Amz-Target prefixes (JSON protocol) to services.
var targetServices = map[string]string{
	"AmazonSQS": "sqs", "AmazonSSM": "ssm", "DynamoDB_20120810": "dynamodb",
}

// credentialScope finds the service in a SigV4 Authorization header.
var credentialScope = regexp.MustCompile(`Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request`)

// callOf names a request: X-Amz-Target for the JSON protocols, else the
// Action form field (query protocol) with the service from the signature.
func callOf(r *http.Request, body []byte) Call {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, ok := strings.Cut(target, ".")
		if !ok {
			return Call{Service: "unknown", Operation: target}
		}
		service, known := targetServices[prefix]
		if !known {
			service = prefix
		}
		return Call{Service: service, Operation: op}
	}
	service := "unknown"
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		service = m[1]
	}
	action := r.URL.Query().Get("Action")
	if action == "" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			action = form.Get("Action")
		}
	}
	if action == "" {
		action = r.Method + " " + r.URL.Path
	}
	return Call{Service: service, Operation: action}
}

// emulatorLine marks the emulator's own lines ("(rapid)"), which Lambda
// does not write to the function's log group.
var emulatorLine = regexp.MustCompile(`\[(INFO|WARNING|ERROR|DEBUG)\] \(rapid\)`)

// reportDuration reads a REPORT line's duration.
var reportDuration = regexp.MustCompile(`^REPORT RequestId: \S+\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms`)

// wrapLogs returns a writer that counts what passes to w.
func (m *Meter) wrapLogs(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		m.countLogs(p)
		return w.Write(p)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (m *Meter) countLogs(p []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data := append(m.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		m.countLine(data[:i])
		data = data[i+1:]
	}
	m.partial = append([]byte(nil), data...)
}

func (m *Meter) countLine(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 || emulatorLine.Match(line) {
		return
	}
	n := int64(len(line)) + 1
	m.logs.Bytes += n
	m.logs.Lines++
	if bytes.Contains(line, []byte(`"_aws":{"CloudWatchMetrics"`)) {
		m.logs.EMFLines++
		m.logs.EMFBytes += n
	}
	if s := reportDuration.FindSubmatch(line); s != nil {
		m.logs.Invocations++
		if d, err := strconv.ParseFloat(string(s[1]), 64); err == nil {
			m.logs.BilledMS += float64(int64(d + 0.999999)) // Lambda bills per started millisecond
		}
	}
}

// Reset forgets everything counted so far.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = map[Call]*CallCount{}
	m.logs = LogCount{}
}

// Snapshot returns the counts so far.
func (m *Meter) Snapshot() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := Usage{Calls: make(map[Call]CallCount, len(m.calls)), Logs: m.logs}
	for c, cc := range m.calls {
		u.Calls[c] = *cc
	}
	return u
}

// Count is the number of calls of one operation.
func (u Usage) Count(service, operation string) int {
	return u.Calls[Call{Service: service, Operation: operation}].Calls
}

// Sorted lists the calls by service, then operation.
func (u Usage) Sorted() []Call {
	out := make([]Call, 0, len(u.Calls))
	for c := range u.Calls {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}
