package devstack

import (
	"fmt"
	"math"
)

// costPricesAsOf says where the prices below come from. They are AWS's
// public on-demand list prices for us-east-1 (aws.amazon.com/<service>/pricing),
// without free tiers or volume tiers; check them before relying on a figure.
const costPricesAsOf = "AWS public list prices, us-east-1, as published 2024-2026; read 2026-12-01"

// Prices in dollars.
const (
	priceHTTPAPIRequest = 1.00 / 1e6         // API Gateway HTTP API, first 300 M requests a month
	priceLambdaRequest  = 0.20 / 1e6         // Lambda requests
	priceLambdaGBSecond = 0.0000133334       // Lambda duration, arm64, first 7.5 G GB-s a month
	priceSQSRequest     = 0.40 / 1e6         // SQS standard queue, per 64 KB request
	priceDynamoWRU      = 0.625 / 1e6        // DynamoDB on-demand write request unit
	priceDynamoRRU      = 0.125 / 1e6        // DynamoDB on-demand read request unit
	priceKMSRequest     = 0.03 / 1e4         // KMS requests (SecureString decryption)
	priceLogsIngestedGB = 0.50               // CloudWatch Logs standard ingestion, per GB
	priceXRayTrace      = 5.00 / 1e6         // X-Ray traces recorded
	bytesPerGB          = 1024 * 1024 * 1024 // CloudWatch bills logs per GB of 2^30 bytes
)

// Assumptions the local stack cannot measure.
const (
	// novaMedWaitMS is how long dispatch waits for NovaMed per record: the
	// sandbox answers in about a millisecond, NovaMed over the internet in
	// hundreds. Dispatch delivers a batch's records concurrently, but at a
	// low rate every record is a batch of its own, so each pays the full
	// wait. The dashboard's DeliveryLatency p50 is the real figure.
	novaMedWaitMS = 300
	// apiAccessLogBytes is one API Gateway access log line (template.yaml's
	// Format with typical values).
	apiAccessLogBytes = 330
	// kmsPerSSMCall bounds the KMS Decrypt requests behind one SSM read:
	// one per SecureString parameter returned.
	kmsPerSSMCall = 3
)

// CostLine is one item of the model.
type CostLine struct {
	Item     string
	Quantity string // per million webhooks
	Dollars  float64
}

// CostEstimate is the model's result per million webhooks.
type CostEstimate struct {
	Lines []CostLine
	Total float64
}

// dynamoWrites and dynamoReads are the operations billed as write and read
// request units.
var (
	dynamoWrites = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true}
	dynamoReads  = map[string]bool{"GetItem": true, "Query": true, "Scan": true, "BatchGetItem": true, "TransactGetItems": true}
)

// CostModel turns the measured work of n webhooks into dollars per million
// webhooks. Every DynamoDB request counts one unit per started KB written
// (4 KB read) of its largest request, a bound on the item's size; reads
// count as strongly consistent.
func CostModel(u Usage, n int) CostEstimate {
	scale := 1e6 / float64(n) // per million webhooks
	var e CostEstimate
	add := func(item, qty string, dollars float64) {
		e.Lines = append(e.Lines, CostLine{Item: item, Quantity: qty, Dollars: dollars})
		e.Total += dollars
	}
	add("API Gateway HTTP API", "1 M requests", 1e6*priceHTTPAPIRequest)

	inv := float64(u.Logs.Invocations) * scale
	add("Lambda requests", fmt.Sprintf("%.2f M invocations", inv/1e6), inv*priceLambdaRequest)
	gb := float64(TemplateMemoryMB) / 1024
	computeGBs := u.Logs.BilledMS / 1000 * gb * scale
	add("Lambda duration, measured", fmt.Sprintf("%.0f GB-s at %d MB", computeGBs, TemplateMemoryMB), computeGBs*priceLambdaGBSecond)
	waitGBs := 1e6 * novaMedWaitMS / 1000 * gb
	add("Lambda duration, waiting for NovaMed", fmt.Sprintf("%.0f GB-s (%d ms a record, assumed)", waitGBs, novaMedWaitMS), waitGBs*priceLambdaGBSecond)

	var sqsCalls, wru, rru, ssmCalls float64
	for c, cc := range u.Calls {
		calls := float64(cc.Calls) * scale
		switch {
		case c.Service == "sqs":
			sqsCalls += calls * math.Max(1, math.Ceil(float64(cc.MaxRequest)/(64*1024)))
		case c.Service == "dynamodb" && dynamoWrites[c.Operation]:
			wru += calls * math.Max(1, math.Ceil(float64(cc.MaxRequest)/1024))
		case c.Service == "dynamodb" && dynamoReads[c.Operation]:
			rru += calls * math.Max(1, math.Ceil(float64(cc.MaxRequest)/4096))
		case c.Service == "ssm":
			ssmCalls += calls
		}
	}
	add("SQS requests", fmt.Sprintf("%.2f M", sqsCalls/1e6), sqsCalls*priceSQSRequest)
	add("DynamoDB writes", fmt.Sprintf("%.2f M WRU", wru/1e6), wru*priceDynamoWRU)
	add("DynamoDB reads", fmt.Sprintf("%.2f M RRU", rru/1e6), rru*priceDynamoRRU)
	add("SSM (standard throughput: no charge)", fmt.Sprintf("%.0f calls", ssmCalls), 0)
	kms := ssmCalls * kmsPerSSMCall
	add("KMS decrypts behind SSM", fmt.Sprintf("≤ %.0f requests", kms), kms*priceKMSRequest)

	logBytes := float64(u.Logs.Bytes)*scale + 1e6*apiAccessLogBytes
	add("CloudWatch Logs ingestion (functions + API access log)", fmt.Sprintf("%.2f GB, EMF lines included", logBytes/bytesPerGB), logBytes/bytesPerGB*priceLogsIngestedGB)

	// Tracing: Active traces every invocation the sampler keeps; under
	// about one request a second (a million a month is 0.4/s) the default
	// rule's reservoir keeps nearly all of them.
	add("X-Ray traces (Tracing: Active, all sampled)", fmt.Sprintf("%.2f M traces", inv/1e6), inv*priceXRayTrace)
	return e
}
