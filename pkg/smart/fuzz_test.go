package smart

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// answerCodes are the codes a token endpoint's answer may come to.
var answerCodes = []string{
	CodeInvalidClient, CodeUnauthorizedClient, CodeInvalidGrant, CodeInvalidScope, CodeInvalidRequest,
	CodeUnauthorized, CodeForbidden, CodeRateLimited, CodeServerError, CodeUnexpectedStatus, CodeBadResponse,
}

// FuzzTokenAnswer feeds arbitrary statuses, Retry-After values and bodies
// to the parsers of the token endpoint's answer (the EHR's authorization
// server, which the bridge does not run). A 200 is either a token usable in
// an Authorization header with a lifetime in (0, 24 h], or bad_response;
// any other status is one of the declared codes, with a Retry-After within
// bounds; no error text holds more than the status and the code (a body
// may carry a token or a client secret).
func FuzzTokenAnswer(f *testing.F) {
	f.Add(200, "", []byte(`{"access_token":"eyJhbGciOi.x.y","token_type":"Bearer","expires_in":300}`))
	f.Add(200, "", []byte(`{"access_token":"a b","token_type":"bearer","expires_in":"300"}`))
	f.Add(200, "", []byte(`{"access_token":"t","token_type":"BEARER","expires_in":1e400}`))
	f.Add(400, "", []byte(`{"error":"invalid_client","error_description":"secret s3cr3t-value rejected"}`))
	f.Add(401, "", []byte(`{"error":"invalid_grant\u0000"}`))
	f.Add(429, "120", []byte(`{}`))
	f.Add(503, "Fri, 27 Nov 2026 10:02:00 GMT", []byte(`<html>`))
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	c := &Client{now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status == http.StatusOK {
			tok, life, err := parseToken(body)
			if err != nil {
				e, ok := err.(*Error)
				if !ok {
					t.Fatalf("error of type %T", err)
				}
				checkAnswerError(t, e, status)
				if e.Code != CodeBadResponse {
					t.Fatal("a 200 that is no token is not bad_response")
				}
				return
			}
			if !validToken(tok) || life <= 0 || life > 24*time.Hour {
				t.Fatalf("accepted an unusable token (length %d) or lifetime %s", len(tok), life)
			}
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		e := c.statusError(resp, body)
		checkAnswerError(t, e, status)
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter || (e.Class != Retryable && e.RetryAfter != 0) {
			t.Fatalf("retry after %s for class %s", e.RetryAfter, e.Class)
		}
	})
}

// checkAnswerError: a declared code and a class, the answer's status, and
// an error text of the status, the code and the class alone.
func checkAnswerError(t *testing.T, e *Error, status int) {
	t.Helper()
	if !slices.Contains(answerCodes, e.Code) || e.Class == "" || e.StatusCode != status {
		t.Fatalf("code %q, class %q, status %d", e.Code, e.Class, e.StatusCode)
	}
	want := "smart: token request: " + e.Code + " (" + string(e.Class) + ")"
	if status != 0 {
		want = "smart: token request: " + strconv.Itoa(status) + " " + e.Code + " (" + string(e.Class) + ")"
	}
	if e.Error() != want {
		t.Fatal("the error text holds more than status, code and class")
	}
}
