package awsclients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/nettest"
)

const paramsAnswer = `{"Parameters":[{"Name":"/bridge/clinic-id","Type":"String","Value":"c-1","Version":1}]}`

// cutFirst answers GetParametersByPath; its first `cuts` answers promise
// the whole body and close the connection after half of it.
func cutFirst(t *testing.T, cuts int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) > cuts {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = io.WriteString(w, paramsAnswer)
			return
		}
		if err := nettest.CutAnswer(w, "Content-Type: application/x-amz-json-1.1\r\n", paramsAnswer, len(paramsAnswer)/2); err != nil {
			t.Errorf("cut answer: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func testConfig(url string) aws.Config {
	return aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: aws.AnonymousCredentials{},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

func getByPath(c *ssm.Client) error {
	_, err := c.GetParametersByPath(context.Background(), &ssm.GetParametersByPathInput{Path: aws.String("/bridge")})
	return err
}

// An answer cut mid-body is read again by NewSSM's client.
//
// On the client a cut shows up one of two ways, by a race inside net/http:
// the body ends early (io.ErrUnexpectedEOF), which only NewSSM retries, or
// the transport closes the connection under the reader ("use of closed
// network connection"), which the SDK retries by itself. Either way the
// second call is whole.
func TestNewSSMRetriesACutAnswer(t *testing.T) {
	srv, calls := cutFirst(t, 1)
	require.NoError(t, getByPath(NewSSM(testConfig(srv.URL))))
	require.EqualValues(t, 2, calls.Load(), "one cut answer, one whole")
}

// The SDK's own retryer refuses the first form, NewSSM's takes it; other
// errors keep the SDK's verdict.
func TestRetryCutReadsTakesWhatTheSDKRefuses(t *testing.T) {
	cut := &smithy.OperationError{ServiceID: "SSM", OperationName: "GetParametersByPath",
		Err: &smithy.DeserializationError{Err: fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)}}
	sdk := retry.NewStandard()
	require.False(t, sdk.IsErrorRetryable(cut), "the SDK retries a cut answer itself: NewSSM is not needed")
	ours := retryCutReads(sdk)
	require.True(t, ours.IsErrorRetryable(cut))
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException"}
	require.False(t, ours.IsErrorRetryable(denied))
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException"}
	require.True(t, ours.IsErrorRetryable(throttled))
}

// The retries stay bounded by the retryer's attempts (3 by default).
func TestNewSSMGivesUpAfterItsAttempts(t *testing.T) {
	srv, calls := cutFirst(t, 100)
	err := getByPath(NewSSM(testConfig(srv.URL)))
	require.True(t, CutAnswer(err) || errors.Is(err, net.ErrClosed), "a cut answer, in either form: %v", err)
	require.EqualValues(t, 3, calls.Load())
}

// Other errors are the SDK's to judge: an access denial is not retried.
func TestNewSSMLeavesOtherErrorsToTheSDK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"AccessDeniedException","message":"no"}`)
	}))
	t.Cleanup(srv.Close)
	err := getByPath(NewSSM(testConfig(srv.URL)))
	require.Error(t, err)
	require.False(t, CutAnswer(err))
	require.EqualValues(t, 1, calls.Load())
}

// A plain aws.Retryer (not V2) is wrapped, not refused.
func TestRetryCutReadsWrapsAPlainRetryer(t *testing.T) {
	r := retryCutReads(plainRetryer{retry.NewStandard()})
	require.True(t, r.IsErrorRetryable(errors.Join(errors.New("deserialization failed"), io.ErrUnexpectedEOF)))
	require.False(t, r.IsErrorRetryable(io.EOF))
	v2, ok := r.(aws.RetryerV2)
	require.True(t, ok)
	_, err := v2.GetAttemptToken(context.Background())
	require.NoError(t, err)
}

type plainRetryer struct{ r aws.Retryer }

func (p plainRetryer) IsErrorRetryable(err error) bool { return p.r.IsErrorRetryable(err) }
func (p plainRetryer) MaxAttempts() int                { return p.r.MaxAttempts() }
func (p plainRetryer) RetryDelay(a int, err error) (time.Duration, error) {
	return p.r.RetryDelay(a, err)
}
func (p plainRetryer) GetRetryToken(ctx context.Context, err error) (func(error) error, error) {
	return p.r.GetRetryToken(ctx, err)
}
func (p plainRetryer) GetInitialToken() func(error) error { return p.r.GetInitialToken() }
