// Command hellofn is the hello-world aws-lambda-go function that
// BenchmarkColdStart compares the bootstraps with: it answers every event
// with a constant, so its cold start is the Go runtime, aws-lambda-go and
// the emulator, nothing else.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
