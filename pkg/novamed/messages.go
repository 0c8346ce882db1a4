package novamed

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// NovaMed's documented error messages (partner documentation, edition
// 1.0.0, "Errors"). They hold no record value, so they are the only
// messages of NovaMed's that may be logged.
const (
	MsgClinicIDNotUUID = "Clinic ID must be a valid UUID."
	MsgClinicNotFound  = "Clinic not found"
	MsgValidation      = "Validation error"
	MsgUnauthorized    = "Unauthorized. This can happen if the access token is invalid, expired or has been revoked"
	MsgNotFound        = "Resource not found"
)

// documentedMessages maps the normalised form of each documented message to
// the message as documented.
var documentedMessages = func() map[string]string {
	m := map[string]string{}
	for _, msg := range []string{MsgClinicIDNotUUID, MsgClinicNotFound, MsgValidation, MsgUnauthorized, MsgNotFound} {
		m[foldMessage(msg)] = msg
	}
	return m
}()

// maxMessageBytes bounds the message DocumentedMessage normalises; the
// longest documented one is under 100 bytes.
const maxMessageBytes = 256

// DocumentedMessage returns the documented message msg is, and true, when
// msg equals one of NovaMed's documented error messages after
// normalisation (NFKC, case folded, surrounding and repeated white space
// collapsed, a trailing full stop dropped). Anything else — including a documented message with words
// added, such as an echo of the record — returns "", false: an allow-list,
// because a scrubber that looks for the record's values in the message
// misses partial echoes ("Account sunflower already exists" for
// sunflower77@…, "Christophe" for Christopher).
func DocumentedMessage(msg string) (string, bool) {
	if msg == "" || len(msg) > maxMessageBytes {
		return "", false
	}
	doc, ok := documentedMessages[foldMessage(msg)]
	return doc, ok
}

// foldMessage is NFKC, lower case, white space collapsed and a trailing
// full stop dropped ("Clinic not found." is the documented message too).
func foldMessage(s string) string {
	return strings.TrimRight(strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " ")), ".")
}
