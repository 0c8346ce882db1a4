package main

import (
	"encoding/base64"
	"mime"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Reading the request as API Gateway hands it over: the source named in
// the path, the headers, the body within its limit, its content type.

// body returns the request body, decoded from base64 when API Gateway
// encoded it, within limit bytes.
func (h *Handler) body(req events.APIGatewayV2HTTPRequest, limit int64, o *outcome) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		o.fail(http.StatusRequestEntityTooLarge, "body_too_large", "body too large")
		o.body = tooLargeBody{Error: "body too large", MaxBytes: limit}
		return nil, false
	}
	if !req.IsBase64Encoded {
		if int64(len(req.Body)) > limit {
			return tooLarge()
		}
		return []byte(req.Body), true
	}
	if int64(len(req.Body)) > int64(base64.StdEncoding.EncodedLen(int(limit))) {
		return tooLarge()
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		o.invalid("body is not valid base64", nil)
		o.code = "bad_base64"
		return nil, false
	}
	if int64(len(b)) > limit {
		return tooLarge()
	}
	return b, true
}

// sourceName is the {source} path parameter, or the last segment of
// /webhooks/<name> when an event carries no path parameters.
func sourceName(req events.APIGatewayV2HTTPRequest) string {
	if name, ok := req.PathParameters["source"]; ok {
		return name
	}
	p := req.RawPath
	if p == "" {
		p = req.RequestContext.HTTP.Path
	}
	name, ok := strings.CutPrefix(p, "/webhooks/")
	if !ok {
		return ""
	}
	return name
}

// toHeader turns API Gateway's header map (lower-case names, repeated
// headers already joined) into an http.Header.
func toHeader(m map[string]string) http.Header {
	h := make(http.Header, len(m))
	values := make([]string, len(m)) // one allocation for every value
	i := 0
	for k, v := range m {
		key, ok := canonicalHeaders[k]
		if !ok {
			key = textproto.CanonicalMIMEHeaderKey(k)
		}
		values[i] = v
		h[key] = values[i : i+1 : i+1]
		i++
	}
	return h
}

// canonicalHeaders holds the canonical form of the header names senders
// and API Gateway send on every request, computed once:
// CanonicalMIMEHeaderKey allocates for every lower-case name.
var canonicalHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"content-type", "content-length", "host", "user-agent", "accept", "accept-encoding",
		"webhook-id", "webhook-timestamp", "webhook-signature", "authorization",
		"typeform-signature", "tally-signature", "x-fs-signature",
		"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id",
	} {
		m[k] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return m
}()

// jsonContentType accepts no Content-Type (the body is sniffed: a body that
// is not JSON is still refused), application/json and application/*+json
// (application/fhir+json), with no charset or UTF-8.
func jsonContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}
