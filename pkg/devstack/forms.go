package devstack

import "github.com/aws/aws-lambda-go/events"

// queryOf is "?<query>" when the event carries a query string (a url-token
// source's token, Jotform), else "".
func queryOf(ev events.APIGatewayV2HTTPRequest) string { return withQuery(ev.RawQueryString) }

// withQuery is "?<query>", or "" for no query.
func withQuery(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// curlContentType is the Content-Type a sample is posted with: the
// template's own (Formstack URL-encoded, Jotform multipart), else JSON.
func curlContentType(headers map[string]string) string {
	if ct := headers["content-type"]; ct != "" {
		return ct
	}
	return "application/json"
}
