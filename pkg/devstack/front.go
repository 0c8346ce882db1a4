package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// maxFrontBody is API Gateway's own payload limit (10 MB); the intake
// function applies the bridge's smaller limit itself.
const maxFrontBody = 10 << 20

// invoker is what the HTTP front needs of a Function.
type invoker interface {
	Invoke(ctx context.Context, event any) ([]byte, error)
}

// Front plays API Gateway (HTTP API, payload format 2.0) for the intake
// function: it turns HTTP requests into events.APIGatewayV2HTTPRequest and the
// function's events.APIGatewayV2HTTPResponse back into HTTP.
type Front struct {
	Intake invoker
	Stage  string
}

// ServeHTTP routes only POST /webhooks/{source}, the one route of the stack;
// other methods on that route reach the function (as `ANY` would not, but
// the function answers 405 itself, which is what a sender should see).
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	source, ok := strings.CutPrefix(r.URL.Path, "/webhooks/")
	if !ok || source == "" || strings.Contains(source, "/") {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFrontBody))
	if err != nil {
		http.Error(w, `{"message":"Request Entity Too Large"}`, http.StatusRequestEntityTooLarge)
		return
	}
	event := toEvent(r, source, body, f.Stage)
	out, err := f.Intake.Invoke(r.Context(), event)
	if err != nil {
		// API Gateway answers 500 when the integration fails.
		http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	if resp.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(resp.Body)
		_, _ = w.Write(b)
		return
	}
	_, _ = io.WriteString(w, resp.Body)
}

// toEvent builds the event API Gateway would send: lower-case header names,
// repeated headers joined with commas, binary bodies base64-encoded.
func toEvent(r *http.Request, source string, body []byte, stage string) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "POST /webhooks/{source}",
		RawPath:        r.URL.Path,
		RawQueryString: r.URL.RawQuery,
		Headers:        headers,
		PathParameters: map[string]string{"source": source},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   "POST /webhooks/{source}",
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  fmt.Sprintf("local-%d", now.UnixNano()),
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
		StageVariables: map[string]string{"stage": stage},
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev
}

// sourceIP is the client address without its port (IPv6 included).
func sourceIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
