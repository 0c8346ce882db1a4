package awsclients

import (
	"context"
	"errors"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// NewSSM returns an SSM client for cfg whose retryer also retries a call
// whose answer was cut mid-read (the status came, the body ended early).
//
// The SDK retries a connection that fails while sending, and a reset or
// closed connection while reading, but not an answer the server closed
// cleanly before its body ended, since it cannot know that repeating the
// call is harmless. For SSM it is: the bridge only reads parameters
// (GetParameters, GetParametersByPath). Without the retry, one cut answer
// at a cold start failed the parameter cache's load, and the cache then
// answered every webhook 503 until its back-off ended (pkg/params).
func NewSSM(cfg aws.Config) *ssm.Client {
	return ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		o.Retryer = retryCutReads(o.Retryer)
	})
}

// retryCutReads returns r, also retrying errors CutAnswer reports.
func retryCutReads(r aws.Retryer) aws.Retryer {
	if r == nil {
		r = retry.NewStandard()
	}
	return &cutReadRetryer{RetryerV2: asV2(r)}
}

// CutAnswer reports whether err is an answer that ended before its body
// did: io.ErrUnexpectedEOF anywhere in its chain.
func CutAnswer(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

type cutReadRetryer struct{ aws.RetryerV2 }

// IsErrorRetryable: a cut answer, else the SDK's verdict. A cancelled call
// carries no io.ErrUnexpectedEOF, and the wait before a retry checks the
// context anyway.
func (r *cutReadRetryer) IsErrorRetryable(err error) bool {
	return CutAnswer(err) || r.RetryerV2.IsErrorRetryable(err)
}

// asV2 is r as an aws.RetryerV2 (a plain aws.Retryer gets GetAttemptToken
// from GetInitialToken, as the SDK's own wrapper does).
func asV2(r aws.Retryer) aws.RetryerV2 {
	if v2, ok := r.(aws.RetryerV2); ok {
		return v2
	}
	return retryerV2{r}
}

type retryerV2 struct{ aws.Retryer }

func (r retryerV2) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}
