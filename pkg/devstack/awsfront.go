package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// attrRedriveAllowPolicy is the SQS queue attribute kumo (v0.33) drops.
const attrRedriveAllowPolicy = "RedriveAllowPolicy"

// awsFront is the local stack's AWS endpoint: a reverse proxy to kumo that
// keeps the one queue attribute kumo drops, RedriveAllowPolicy. It records
// the policy a CreateQueue or SetQueueAttributes call sets (SQS JSON
// protocol) and adds it to GetQueueAttributes answers, so the local DLQ
// carries template.yaml's byQueue policy and `redrive move` checks its
// target against it exactly as it does in AWS, with no --allow-any-target.
// Everything else passes through untouched.
type awsFront struct {
	URL string

	proxy *httputil.ReverseProxy
	srv   *http.Server
	mu    sync.Mutex
	allow map[string]string // queue name -> RedriveAllowPolicy
}

type frontKey struct{}

// frontCall is what the proxy remembers of a request until its answer.
type frontCall struct {
	target string // X-Amz-Target
	queue  string // the queue's name
	policy string // set by CreateQueue or SetQueueAttributes
	wanted bool   // GetQueueAttributes asked for the policy
}

func startAWSFront(kumoURL string) (*awsFront, error) {
	u, err := url.Parse(kumoURL)
	if err != nil {
		return nil, err
	}
	f := &awsFront{allow: map[string]string{}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// The answer may be rewritten: keep it uncompressed.
			r.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: f.modify,
		// One upstream connection per call: a reused loopback connection
		// to kumo now and then lost an answer mid-read (internal/awstest).
		Transport: noKeepAlive(),
		// A client that gives up (a long poll cut at shutdown) is no news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.URL = "http://" + l.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = f.srv.Serve(l) }()
	return f, nil
}

func (f *awsFront) close() { _ = f.srv.Close() }

func (f *awsFront) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	switch target {
	case "AmazonSQS.CreateQueue", "AmazonSQS.SetQueueAttributes", "AmazonSQS.GetQueueAttributes":
	default:
		f.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "devstack: reading the request", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		QueueName      string
		QueueURL       string `json:"QueueUrl"`
		Attributes     map[string]string
		AttributeNames []string
	}
	if json.Unmarshal(body, &in) != nil {
		f.proxy.ServeHTTP(w, r)
		return
	}
	call := &frontCall{target: target, queue: in.QueueName, policy: in.Attributes[attrRedriveAllowPolicy]}
	if in.QueueURL != "" {
		call.queue = queueNameOf(in.QueueURL)
	}
	for _, n := range in.AttributeNames {
		call.wanted = call.wanted || n == "All" || n == attrRedriveAllowPolicy
	}
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), frontKey{}, call)))
}

// modify records a policy kumo accepted and adds the recorded policy to a
// GetQueueAttributes answer that asked for it.
func (f *awsFront) modify(resp *http.Response) error {
	call, _ := resp.Request.Context().Value(frontKey{}).(*frontCall)
	if call == nil || resp.StatusCode != http.StatusOK || call.queue == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if call.target != "AmazonSQS.GetQueueAttributes" {
		if call.policy != "" {
			f.allow[call.queue] = call.policy
		}
		return nil
	}
	policy, ok := f.allow[call.queue]
	if !ok || !call.wanted {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	var out map[string]json.RawMessage
	var attrs map[string]string
	if json.Unmarshal(body, &out) == nil {
		_ = json.Unmarshal(out["Attributes"], &attrs)
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[attrRedriveAllowPolicy] = policy
		if b, err := json.Marshal(attrs); err == nil {
			out["Attributes"] = b
			if nb, err := json.Marshal(out); err == nil {
				body = nb
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// queueNameOf is the last path segment of a queue URL.
func queueNameOf(u string) string {
	u = strings.TrimRight(u, "/")
	return u[strings.LastIndexByte(u, '/')+1:]
}

func noKeepAlive() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return tr
}
