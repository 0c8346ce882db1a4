// Command echofn is a Lambda function for the devstack tests: it answers an
// API Gateway v2 event with its body, and fails on the body "fail".
package main

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.Body == "fail" {
			return events.APIGatewayV2HTTPResponse{}, errors.New("asked to fail")
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 202,
			Headers:    map[string]string{"content-type": "text/plain", "x-source": ev.PathParameters["source"], "x-env": os.Getenv("ECHO_ENV")},
			Body:       ev.Body,
		}, nil
	})
}
