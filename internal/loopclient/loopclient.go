// Package loopclient is how the tests and the local stack's own clients
// reach the in-process AWS emulator (kumo) on loopback: one connection per
// call, and each answer read whole inside the HTTP call.
//
// Both came from tests that failed by chance. On a reused loopback
// connection about one kumo call in a few thousand lost its answer
// mid-read ("use of closed network connection"); with one connection per
// call an answer was still, now and then, cut while the SDK decoded it
// (the tests ran shuffled under load). Read at once, inside the call, the
// answer is taken while the request is still live. The cause (kumo,
// net/http or the SDK) is not known. A cut ReceiveMessage is the costly
// case: its messages stay hidden for the visibility timeout, and a test
// or the soak's count misses them.
//
// The functions do not use this: they reach AWS as Lambda does.
package loopclient

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// LoadConfig is config.LoadDefaultConfig(ctx, optFns...) with the HTTP
// client this package describes: New for the loader, and Buffered around
// what it built from it (the loader configures, e.g. for AWS_CA_BUNDLE,
// only clients it can rebuild, so the wrapping comes after loading).
func LoadConfig(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{config.WithHTTPClient(New())}, optFns...)...)
	if err != nil {
		return aws.Config{}, err
	}
	cfg.HTTPClient = Buffered(cfg.HTTPClient)
	return cfg, nil
}

// New returns an HTTP client that opens one connection per call. Wrap it
// (or the client the SDK's loader built from it) with Buffered.
func New() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.DisableKeepAlives = true
	})
}

// Buffered returns inner, reading each answer whole before the caller
// sees it. An answer that is cut all the same reaches the caller as one:
// its body gives what came, then the read error.
func Buffered(inner aws.HTTPClient) aws.HTTPClient { return buffered{inner} }

type buffered struct{ inner aws.HTTPClient }

func (c buffered) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var rest io.Reader = bytes.NewReader(body)
	if err != nil {
		// Still a cut answer, not a failed send: returned from Do, the
		// error would be one the SDK retries for every operation, so a
		// cut ReceiveMessage would be repeated silently (its messages
		// hidden) and a cut SendMessage sent twice.
		rest = io.MultiReader(rest, failingReader{err})
	}
	resp.Body = io.NopCloser(rest)
	return resp, nil
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }
