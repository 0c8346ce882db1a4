package novamed

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzResponseParsing feeds arbitrary bodies to the success and error parsers:
// they must not panic, an accepted id is short and printable, and the error
// string never carries the body.
func FuzzResponseParsing(f *testing.F) {
	f.Add(201, []byte(`{"success":true,"data":{"patient_id":"0f8fad5b-d9cb-469f-a165-70867728950e"}}`))
	f.Add(400, []byte(`{"success":false,"error":{"message":"Clinic not found"}}`))
	f.Add(400, []byte(`{"success":false,"error":{"message":"Validation error","details":{"email":"x"}}}`))
	f.Add(502, []byte(`<html>Bad Gateway</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if id, ok := successID(body, "patient_id"); ok {
			if id == "" || len(id) > maxIDLen || strings.ContainsAny(id, " \t\r\n") {
				t.Fatalf("accepted an unusable id of length %d", len(id))
			}
		}
		e := newAPIError(&http.Response{StatusCode: status, Header: http.Header{}}, body, time.Unix(0, 0))
		if e.Error() != "novamed: "+strconv.Itoa(status)+" "+e.Code {
			t.Fatal("Error() carries more than status and code")
		}
		if e.Code == "" {
			t.Fatal("no code")
		}
	})
}

// FuzzParseRetryAfter checks the parsed delay stays within [0, maxRetryAfter].
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Fri, 27 Nov 2026 10:02:00 GMT", "-1", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("delay %s out of range", d)
		}
	})
}
