// Command echofn is a Lambda function for the devstack tests: it answers an
// API Gateway v2 event with its body, and fails on the body "fail". On the
// body "hold:<addr>" it dials addr, writes its process id and waits until
// the other end closes the connection: a test sees which invocations run
// at once, and in which process, and decides when they end.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if ev.Body == "fail" {
			return events.APIGatewayV2HTTPResponse{}, errors.New("asked to fail")
		}
		if addr, ok := strings.CutPrefix(ev.Body, "hold:"); ok {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			defer c.Close()
			if _, err := fmt.Fprintf(c, "%d\n", os.Getpid()); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			_, _ = io.Copy(io.Discard, c)
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 202,
			Headers:    map[string]string{"content-type": "text/plain", "x-source": ev.PathParameters["source"], "x-env": os.Getenv("ECHO_ENV")},
			Body:       ev.Body,
		}, nil
	})
}
