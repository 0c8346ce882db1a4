// Package queuekumo holds pkg/queue's tests against kumo, the in-process
// SQS, and nothing else.
//
// They live apart from pkg/queue's own tests for the sake of its fuzz
// targets: `go test -fuzz` instruments every package linked into the test
// binary, and after each execution the engine copies the whole coverage
// array. kumo and the SDK's SQS client triple that array (59 KB to 183 KB),
// which made every FuzzDecode execution pay for a server it never calls.
// Kept here, the round trips through a real SQS wire protocol stay in
// `make test`, and pkg/queue's fuzz binary links only what it fuzzes.
package queuekumo
