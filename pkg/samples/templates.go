package samples

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

//go:embed templates/*.json
var templateFS embed.FS

// Signature modes of a template.
const (
	// SignatureValid (the default) signs with the source's first secret.
	SignatureValid = ""
	// SignatureNone adds no auth header.
	SignatureNone = "none"
	// SignatureWrong signs with a secret the source does not hold.
	SignatureWrong = "wrong"
)

// Template is one sample request, as templates/<name>.json describes it.
type Template struct {
	// Name is the template's file name without .json; the event is written
	// as events/intake/<Name>.json.
	Name        string `json:"-"`
	Description string `json:"description"`
	// Source is the source name in the path (it need not exist).
	Source string `json:"source"`
	// Method defaults to POST.
	Method string `json:"method,omitempty"`
	// Headers are added to the event (lower-case names), before the
	// signature headers.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a JSON body; it is sent compacted.
	Body json.RawMessage `json:"body,omitempty"`
	// BodyText is a body sent byte for byte (not JSON, or broken JSON).
	BodyText string `json:"body_text,omitempty"`
	// Base64 sends the body base64-encoded, as API Gateway does for
	// content types it treats as binary.
	Base64 bool `json:"base64,omitempty"`
	// Signature is SignatureValid, SignatureNone or SignatureWrong.
	Signature string `json:"signature,omitempty"`
	// SignedAgo makes the Standard Webhooks timestamp older than the
	// request by this much ("10m").
	SignedAgo Duration `json:"signed_ago,omitempty"`
	// EventID is the Standard Webhooks webhook-id (default: derived).
	EventID string `json:"event_id,omitempty"`
	// Expect is what intake answers.
	Expect Expect `json:"expect"`
}

// Expect is what intake must answer to a sample.
type Expect struct {
	Status int `json:"status"`
	// Records is the number of records queued (202 only).
	Records int `json:"records,omitempty"`
	// Kinds are the kinds of the queued records, in order.
	Kinds []string `json:"kinds,omitempty"`
	// Fields are the field paths of a 400, in order.
	Fields []string `json:"fields,omitempty"`
	// Held are the hold reasons of the records that are held (dead-lettered
	// as class held, not delivered), in order; Records counts them too.
	Held []string `json:"held,omitempty"`
}

// Delivered is the number of records of the sample bound for NovaMed.
func (e Expect) Delivered() int { return e.Records - len(e.Held) }

// Duration is a time.Duration written as a Go duration string in JSON.
type Duration time.Duration

// UnmarshalJSON reads "10m", "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration must be a string such as \"10m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("duration must be a string such as \"10m\"")
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// Templates returns the embedded templates, sorted by name.
func Templates() ([]Template, error) {
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	var out []Template
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		data, err := templateFS.ReadFile(path.Join("templates", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("samples: %w", err)
		}
		var t Template
		if err := unmarshalStrict(data, &t); err != nil {
			return nil, fmt.Errorf("samples: template %s: %w", name, err)
		}
		t.Name = name
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("samples: template %s: %w", name, err)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Template) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (t Template) check() error {
	switch {
	case t.Source == "":
		return errors.New("source is required")
	case len(t.Body) > 0 && t.BodyText != "":
		return errors.New("body and body_text are exclusive")
	case t.Signature != SignatureValid && t.Signature != SignatureNone && t.Signature != SignatureWrong:
		return errors.New("signature must be empty, none or wrong")
	case t.Expect.Status < 200 || t.Expect.Status > 599:
		return errors.New("expect.status is required")
	}
	return nil
}

// RawBody returns the body as it is sent and signed (before any base64).
func (t Template) RawBody() ([]byte, error) {
	if len(t.Body) == 0 {
		return []byte(t.BodyText), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, t.Body); err != nil {
		return nil, fmt.Errorf("samples: template %s: body is not JSON", t.Name)
	}
	return buf.Bytes(), nil
}

// Event returns the API Gateway (HTTP API, payload 2.0) event of the
// template's request received at now. A source not in sources (an unknown
// source sample) is allowed only when the template does not sign.
func (t Template) Event(sources []Source, now time.Time) (events.APIGatewayV2HTTPRequest, error) {
	body, err := t.RawBody()
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, err
	}
	method := t.Method
	if method == "" {
		method = "POST"
	}
	now = now.UTC().Truncate(time.Millisecond)
	rawPath := "/webhooks/" + t.Source
	headers := map[string]string{
		"host":              "localhost:3000",
		"user-agent":        "novamed-bridge-samples/1",
		"x-forwarded-for":   "127.0.0.1",
		"x-forwarded-port":  "3000",
		"x-forwarded-proto": "http",
	}
	if len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	for k, v := range t.Headers {
		headers[strings.ToLower(k)] = v
	}
	var query string // a url-token source's token
	if t.Signature != SignatureNone {
		src, ok := Find(sources, t.Source)
		if !ok {
			return events.APIGatewayV2HTTPRequest{}, fmt.Errorf("samples: template %s: source %s not found", t.Name, t.Source)
		}
		opts := []SignOption{WithSignedAt(now.Add(-time.Duration(t.SignedAgo)))}
		if t.EventID != "" {
			opts = append(opts, WithEventID(t.EventID))
		}
		if t.Signature == SignatureWrong {
			opts = append(opts, WithSecret(wrongSecret(src)))
		}
		signed, err := Sign(src, body, now, opts...)
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, err
		}
		for k, v := range signed {
			headers[k] = v
		}
		query = Query(src, opts...)
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "POST /webhooks/{source}",
		RawPath:        rawPath,
		Headers:        headers,
		PathParameters: map[string]string{"source": t.Source},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "POST /webhooks/{source}",
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    "sample-" + t.Name,
			APIID:        "local",
			DomainName:   "localhost",
			DomainPrefix: "localhost",
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    method,
				Path:      rawPath,
				Protocol:  "HTTP/1.1",
				SourceIP:  "127.0.0.1",
				UserAgent: headers["user-agent"],
			},
		},
	}
	if query != "" {
		ev.RawQueryString = query
		ev.QueryStringParameters = map[string]string{}
		for k, v := range queryValues(query) {
			ev.QueryStringParameters[k] = v
		}
	}
	if t.Base64 {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	} else {
		ev.Body = string(body)
	}
	return ev, nil
}

// EventTime is the time a sample event was received (and, unless the
// template says otherwise, signed): its requestContext.timeEpoch.
func EventTime(ev events.APIGatewayV2HTTPRequest) time.Time {
	return time.UnixMilli(ev.RequestContext.TimeEpoch).UTC()
}

// Built is a template's event, ready to write.
type Built struct {
	Template Template
	Event    events.APIGatewayV2HTTPRequest
	// JSON is the file content of events/intake/<name>.json.
	JSON []byte
}

// FileName is the event's file name in events/intake.
func (b Built) FileName() string { return b.Template.Name + ".json" }

// Build signs every template at now with sources and encodes the events.
func Build(sources []Source, now time.Time) ([]Built, error) {
	ts, err := Templates()
	if err != nil {
		return nil, err
	}
	out := make([]Built, 0, len(ts))
	for _, t := range ts {
		ev, err := t.Event(sources, now)
		if err != nil {
			return nil, err
		}
		data, err := EncodeEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("samples: template %s: %w", t.Name, err)
		}
		out = append(out, Built{Template: t, Event: ev, JSON: data})
	}
	return out, nil
}

// wireEvent is the JSON layout of a sample event: the fields of
// events.APIGatewayV2HTTPRequest that API Gateway sends for this route,
// without the empty mTLS block the library type always writes.
type wireEvent struct {
	Version        string            `json:"version"`
	RouteKey       string            `json:"routeKey"`
	RawPath        string            `json:"rawPath"`
	RawQueryString string            `json:"rawQueryString"`
	Headers        map[string]string `json:"headers"`
	QueryParams    map[string]string `json:"queryStringParameters,omitempty"`
	PathParameters map[string]string `json:"pathParameters,omitempty"`
	RequestContext wireContext       `json:"requestContext"`
	Body           string            `json:"body,omitempty"`
	IsBase64       bool              `json:"isBase64Encoded"`
}

type wireContext struct {
	AccountID    string                                               `json:"accountId"`
	APIID        string                                               `json:"apiId"`
	DomainName   string                                               `json:"domainName"`
	DomainPrefix string                                               `json:"domainPrefix"`
	HTTP         events.APIGatewayV2HTTPRequestContextHTTPDescription `json:"http"`
	RequestID    string                                               `json:"requestId"`
	RouteKey     string                                               `json:"routeKey"`
	Stage        string                                               `json:"stage"`
	Time         string                                               `json:"time"`
	TimeEpoch    int64                                                `json:"timeEpoch"`
}

// EncodeEvent writes ev as an indented JSON event file, in the layout of
// aws-lambda-go's testdata.
func EncodeEvent(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	rc := ev.RequestContext
	w := wireEvent{
		Version: ev.Version, RouteKey: ev.RouteKey, RawPath: ev.RawPath, RawQueryString: ev.RawQueryString,
		Headers: ev.Headers, QueryParams: ev.QueryStringParameters, PathParameters: ev.PathParameters, Body: ev.Body, IsBase64: ev.IsBase64Encoded,
		RequestContext: wireContext{
			AccountID: rc.AccountID, APIID: rc.APIID, DomainName: rc.DomainName, DomainPrefix: rc.DomainPrefix,
			HTTP: rc.HTTP, RequestID: rc.RequestID, RouteKey: rc.RouteKey, Stage: rc.Stage, Time: rc.Time,
			TimeEpoch: rc.TimeEpoch,
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeEvent reads an event file.
func DecodeEvent(data []byte) (events.APIGatewayV2HTTPRequest, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("samples: event is not valid JSON: %w", err)
	}
	return ev, nil
}

// queryValues reads a query string as API Gateway's queryStringParameters
// do: repeated names joined with commas.
func queryValues(raw string) map[string]string {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		out[k] = strings.Join(v, ",")
	}
	return out
}

func unmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}
