//go:build !nokumo

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHandlerSeedsKumo runs FuzzHandler's seeds (handlerSeeds and the
// corpus files) through the handler wired to kumo (SSM, DynamoDB, SQS over
// their wire protocols): the same answers are owed, every queued message
// decodes, is de-identified and valid, and no source's secret reaches the
// logs.
func TestHandlerSeedsKumo(t *testing.T) {
	f := newFixture(t)
	seeds := append(handlerSeeds(t), corpusSeeds(t)...)
	queued := 0
	for i, in := range seeds {
		f.clock.Set(fuzzNow)
		resp, err := f.handler.Handle(f.ctx, in.request(t, f.sources, fuzzNow))
		in.checkAnswer(t, resp, err)
		for _, m := range f.messages() {
			queued++
			require.True(t, m.msg.Deidentified, "seed %d: queued outside production undeidentified", i)
			require.NoError(t, decodeRecord(t, m.msg).Validate(), "seed %d", i)
		}
	}
	require.NotZero(t, queued, "no seed reached the queue")
	logs := f.logs.String()
	for _, s := range f.sources {
		for _, secret := range s.Definition.Auth.Secrets {
			require.False(t, strings.Contains(logs, secret), "a secret of %s is in the logs", s.Name)
		}
	}
	require.False(t, bytes.Contains([]byte(logs), []byte(testPseudonymKey)), "the pseudonym key is in the logs")
}

// corpusSeeds reads testdata/fuzz/FuzzHandler, the inputs go test runs as
// seeds besides handlerSeeds ("go test fuzz v1" files of four values).
func corpusSeeds(t testing.TB) []handlerInput {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzHandler", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	seeds := make([]handlerInput, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		in, err := parseCorpusFile(data)
		require.NoError(t, err, p)
		seeds = append(seeds, in)
	}
	return seeds
}

// parseCorpusFile reads a FuzzHandler corpus file: a version line, then
// uint8(…), bool(…), string(…) and []byte(…) lines in argument order.
func parseCorpusFile(data []byte) (handlerInput, error) {
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 5 || lines[0] != "go test fuzz v1" {
		return handlerInput{}, fmt.Errorf("not a four-value corpus file")
	}
	arg := func(line, typ string) (string, error) {
		v, ok := strings.CutPrefix(line, typ+"(")
		if !ok || !strings.HasSuffix(v, ")") {
			return "", fmt.Errorf("want a %s value", typ)
		}
		return v[:len(v)-1], nil
	}
	var in handlerInput
	v, err := arg(lines[1], "uint8")
	if err == nil {
		var n uint64
		n, err = strconv.ParseUint(v, 0, 8)
		in.which = uint8(n)
	}
	if err == nil {
		if v, err = arg(lines[2], "bool"); err == nil {
			in.sign, err = strconv.ParseBool(v)
		}
	}
	if err == nil {
		if v, err = arg(lines[3], "string"); err == nil {
			in.headers, err = strconv.Unquote(v)
		}
	}
	if err == nil {
		if v, err = arg(lines[4], "[]byte"); err == nil {
			var s string
			s, err = strconv.Unquote(v)
			in.body = []byte(s)
		}
	}
	return in, err
}
