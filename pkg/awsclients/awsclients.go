// Package awsclients builds the AWS configuration of the bridge's Lambda
// functions (FromEnv) and the clients the functions and commands share, so
// that they all reach AWS, or a local emulator, the same way. It must not
// import github.com/aws/aws-sdk-go-v2/config: that would link the SDK's
// whole credential chain into the functions again (FromEnv says why);
// commands load their configuration with config.LoadDefaultConfig.
package awsclients

import (
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// EndpointEnv is the SDK's standard variable that points every AWS client
// at one endpoint; the local stack and the operators set it to an emulator.
const EndpointEnv = "AWS_ENDPOINT_URL"

// NewDynamoDB returns a DynamoDB client for cfg. When EndpointEnv is set,
// the client talks to an emulator and is built as NewEmulatorDynamoDB
// builds it; otherwise it validates responses as the SDK does by default.
func NewDynamoDB(cfg aws.Config) *dynamodb.Client {
	if os.Getenv(EndpointEnv) != "" {
		return NewEmulatorDynamoDB(cfg)
	}
	return dynamodb.NewFromConfig(cfg)
}

// NewEmulatorDynamoDB returns a DynamoDB client for an emulator reached
// through cfg. It does not validate the CRC32 checksum of responses:
// emulators such as kumo send no X-Amz-Crc32 header, and the SDK would
// check the body against a missing value and log a warning on every call.
func NewEmulatorDynamoDB(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
}
