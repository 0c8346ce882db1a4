package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Answer bodies. None holds a value from the payload: ids the bridge made,
// counts, messages and field paths.
type (
	// acceptedBody: Records counts every record the payload holds (held
	// ones included); Held lists those NovaMed cannot take as they stand,
	// by index into the payload's records; Dropped lists the optional
	// fields left out.
	acceptedBody struct {
		ID          string     `json:"id"`
		Records     int        `json:"records"`
		Held        []heldBody `json:"held,omitempty"`
		Dropped     []string   `json:"dropped,omitempty"`
		DroppedMore int        `json:"dropped_more,omitempty"`
		Skipped     int        `json:"skipped,omitempty"`
	}
	heldBody struct {
		Index  int      `json:"index"`
		Reason string   `json:"reason"`
		Fields []string `json:"fields"`
	}
	duplicateBody struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	notificationBody struct {
		ID           string `json:"id,omitempty"`
		Notification string `json:"notification"`
	}
	errorBody struct {
		Error string `json:"error"`
	}
	invalidBody struct {
		Error  string   `json:"error"`
		Fields []string `json:"fields"`
		// More counts the paths left out of Fields.
		More int `json:"more,omitempty"`
	}
	tooLargeBody struct {
		Error    string `json:"error"`
		MaxBytes int64  `json:"max_bytes"`
	}
)

// notificationPing is the answer's notification for an empty rest-hook
// POST.
const notificationPing = "ping"

// respond renders an outcome as API Gateway's response.
func respond(o *outcome) events.APIGatewayV2HTTPResponse {
	body, err := json.Marshal(o.body)
	if err != nil {
		// The bodies are plain structs of strings and numbers.
		o.status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	headers := map[string]string{"Content-Type": "application/json"}
	for k, v := range o.headers {
		headers[k] = v
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: o.status, Headers: headers, Body: string(body)}
}

// Outcomes, as logged.
const (
	outcomeAccepted     = "accepted"
	outcomeDuplicate    = "duplicate"
	outcomeNotification = "notification"
	outcomeRejected     = "rejected"
	outcomeUnavailable  = "unavailable"
	outcomeFailed       = "failed"
)

func (o *outcome) name() string {
	switch {
	case o.duplicate:
		return outcomeDuplicate
	case o.status == http.StatusOK:
		return outcomeNotification
	case o.status < 300:
		return outcomeAccepted
	case o.status == http.StatusServiceUnavailable:
		return outcomeUnavailable
	case o.status >= 500:
		return outcomeFailed
	default:
		return outcomeRejected
	}
}

// record writes the request's log line and metrics: ids, names, counts and
// codes only.
func (h *Handler) record(ctx context.Context, req events.APIGatewayV2HTTPRequest, o *outcome, latency time.Duration) {
	outcome := o.name()
	level := slog.LevelInfo
	switch {
	case o.status >= 500:
		level = slog.LevelError
	case o.status >= 400:
		level = slog.LevelWarn
	}
	if h.log.Enabled(ctx, level) {
		attrs := make([]slog.Attr, 0, 16) // 15 below, and the error
		attrs = append(attrs,
			slog.String("request_id", req.RequestContext.RequestID),
			slog.String("stage", h.stage),
			slog.String("source", o.source),
			slog.String("scheme", o.scheme),
			slog.String("event_id", o.eventID),
			slog.String("kind", o.kind),
			slog.String("outcome", outcome),
			slog.Int("status", o.status),
			slog.String("error_code", o.code),
			slog.Int("records", o.records),
			slog.Int("skipped", o.skipped),
			slog.Int("held", len(o.held)),
			slog.Int("dropped", o.dropped),
			slog.Bool("deidentified", o.deidentified),
			slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
		)
		if o.err != nil {
			attrs = append(attrs, slog.String("error", o.err.Error()))
		}
		h.log.LogAttrs(ctx, level, "intake", attrs...)
	}

	if h.metrics == nil {
		return
	}
	h.metrics.Count(MetricWebhooks, 1, "Source", o.source, "Outcome", outcome)
	if dep := dependencyOf(o.code); dep != "" {
		h.metrics.Count(MetricDependencyErrors, 1, "Dependency", dep)
	}
	switch outcome {
	case outcomeAccepted:
		h.metrics.Count("Accepted", o.records)
		for reason, n := range o.skippedBy {
			h.metrics.Count("Skipped", n, "Reason", reason)
		}
		if len(o.held) > 0 {
			// Once without a reason, for the HeldAlarm; once per reason.
			h.metrics.Count("Held", len(o.held))
			for _, reason := range o.held {
				h.metrics.Count("Held", 1, "Reason", reason)
			}
		}
		if o.dropped > 0 {
			h.metrics.Count("Dropped", o.dropped)
		}
		if o.deidentified && o.records > 0 {
			h.metrics.Count("Deidentified", o.records)
		}
	case outcomeDuplicate:
		h.metrics.Count("Duplicates", 1)
	case outcomeNotification:
		h.metrics.Count("Notifications", 1)
	default:
		h.metrics.Count("Rejected", 1, "Reason", o.code)
	}
}
