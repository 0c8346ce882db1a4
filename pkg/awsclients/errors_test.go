package awsclients

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrapErrorKeepsOnlyTheCode(t *testing.T) {
	quoting := &smithy.GenericAPIError{Code: "InvalidMessageContents", Message: `Invalid characters in "Ottoline Quarterfield"`}
	cases := []struct {
		err  error
		code string
	}{
		{fmt.Errorf("operation error SQS: SendMessageBatch: %w", quoting), "InvalidMessageContents"},
		{fmt.Errorf("send: %w", context.Canceled), "canceled"},
		{fmt.Errorf("send: %w", context.DeadlineExceeded), "timeout"},
		{errors.New(`dial tcp: lookup sqs for "Ottoline": no such host`), "network"},
	}
	for _, c := range cases {
		err := WrapError("SendMessageBatch", c.err)
		assert.Equal(t, "SendMessageBatch: "+c.code, err.Error())
		assert.NotContains(t, err.Error(), "Ottoline")
		assert.ErrorIs(t, err, c.err, "the SDK error stays reachable")
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, c.code, e.Code)
	}
	assert.NoError(t, WrapError("GetItem", nil))
	var apiErr smithy.APIError
	assert.ErrorAs(t, WrapError("x", quoting), &apiErr)
}
