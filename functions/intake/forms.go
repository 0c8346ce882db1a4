package main

import "github.com/novamed/bridge/pkg/inbound"

// acceptsContentType says whether a source of format takes a body sent with
// Content-Type ct: the JSON formats as jsonContentType says; Formstack also
// application/x-www-form-urlencoded (its default), and Jotform only
// multipart/form-data with a boundary (inbound.Format.AcceptsContentType).
// Multipart is refused for every other format.
func acceptsContentType(format, ct string) bool {
	switch f := inbound.Format(format); f {
	case inbound.FormatFormstack, inbound.FormatJotform:
		return f.AcceptsContentType(ct)
	}
	return jsonContentType(ct)
}

// mediaHint names what a source of format takes, for the 415 answer.
func mediaHint(format string) string {
	switch inbound.Format(format) {
	case inbound.FormatJotform:
		return "multipart/form-data"
	case inbound.FormatFormstack:
		return "application/json or application/x-www-form-urlencoded"
	}
	return "application/json"
}
