package awstest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
)

// Fault is what a Faults proxy answers instead of forwarding.
type Fault int

// The faults a Faults proxy injects, each as AWS answers it on the wire.
const (
	// Pass forwards the request.
	Pass Fault = iota
	// Unavailable answers 503 ServiceUnavailable (an AWS outage).
	Unavailable
	// Throttled answers 400 with the service's throttling error
	// (DynamoDB: ProvisionedThroughputExceededException; others:
	// ThrottlingException).
	Throttled
)

// Faults is a proxy in front of an AWS endpoint (usually kumo) that injects
// faults per service, so a test sees them through the real SDK: its
// retries, its error codes, the code's classification of them.
type Faults struct {
	mu     sync.Mutex
	faults map[string]Fault
	hits   map[string]int
}

// Set makes every request to service ("DynamoDB", "SSM", "SQS") answer
// f until the next Set.
func (p *Faults) Set(service string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[service] = f
}

// Hits returns how many requests to service got a fault.
func (p *Faults) Hits(service string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[service]
}

// StartFaults starts kumo behind a Faults proxy and returns an Env that
// reaches kumo through it.
func StartFaults(t testing.TB, optFns ...func(*config.LoadOptions) error) (*Env, *Faults) {
	t.Helper()
	return StartFaultsFor(t, Start(t).URL, optFns...)
}

// StartFaultsFor puts a Faults proxy in front of the endpoint at rawURL
// (a kumo the test already uses) and returns an Env that reaches it
// through the proxy.
func StartFaultsFor(t testing.TB, rawURL string, optFns ...func(*config.LoadOptions) error) (*Env, *Faults) {
	t.Helper()
	target, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("awstest: kumo URL: %v", err)
	}
	p := &Faults{faults: map[string]Fault{}, hits: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := serviceOf(r)
		p.mu.Lock()
		f := p.faults[service]
		if f != Pass {
			p.hits[service]++
		}
		p.mu.Unlock()
		switch f {
		case Unavailable:
			awsError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable")
		case Throttled:
			code := "ThrottlingException"
			if service == "DynamoDB" {
				code = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
			}
			awsError(w, http.StatusBadRequest, code, "Rate exceeded")
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return Connect(t, srv.URL, optFns...), p
}

// serviceOf names the service of an AWS JSON-protocol request by its
// X-Amz-Target ("DynamoDB_20120810.PutItem", "AmazonSSM.GetParameters",
// "AmazonSQS.SendMessageBatch").
func serviceOf(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "DynamoDB_"):
		return "DynamoDB"
	case strings.HasPrefix(target, "AmazonSSM."):
		return "SSM"
	case strings.HasPrefix(target, "AmazonSQS."):
		return "SQS"
	}
	return ""
}

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"__type":"` + code + `","message":"` + msg + `"}`))
}
