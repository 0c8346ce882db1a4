package devstack

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/samples"
)

// withSubjectField replaces the named source by a copy whose definition
// names field as the person's key (source.Definition.SubjectField).
func withSubjectField(t *testing.T, field, name string) func(*Options) {
	return func(o *Options) {
		for i, s := range o.Sources {
			if s.Name != name {
				continue
			}
			var def map[string]any
			require.NoError(t, json.Unmarshal(s.JSON, &def))
			def["subject_field"] = field
			data, err := json.Marshal(def)
			require.NoError(t, err)
			o.Sources[i], err = samples.ParseSource(name, data)
			require.NoError(t, err)
			return
		}
		t.Fatalf("no source %s", name)
	}
}

// expireTTL does what DynamoDB's TTL sweeper does once the ledger's TTL
// (30 days) has passed: it deletes every item that carries expires_at
// (events and records). Subjects carry none and stay. It returns the
// number of items deleted.
func (e *e2e) expireTTL() int {
	e.t.Helper()
	ctx := context.Background()
	out, err := e.DynamoDB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(e.LedgerTable)})
	require.NoError(e.t, err)
	deleted := 0
	for _, item := range out.Items {
		if _, ok := item["expires_at"]; !ok {
			continue
		}
		_, err := e.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(e.LedgerTable), Key: map[string]types.AttributeValue{"pk": item["pk"]},
		})
		require.NoError(e.t, err)
		deleted++
	}
	return deleted
}

// TestEndToEndReplayAfterTTLMakesNoSecondChart (issue 14 item 8): an HMAC
// webhook carries no timestamp, so the identical request replayed after
// the ledger's event and record items expired is accepted again as a new
// event. The subject item, which never expires, finds the chart: NovaMed
// gets no second create. The control run shows the subject is what stops
// it: the same source without a subject field makes a second chart.
func TestEndToEndReplayAfterTTLMakesNoSecondChart(t *testing.T) {
	replay := func(t *testing.T, e *e2e) {
		t.Helper()
		tpl := e.templates["tally-patient"]
		ev, err := tpl.Event(e.sources, time.Now())
		require.NoError(t, err)
		first, err := e.Send(context.Background(), ev)
		require.NoError(t, err)
		require.Equal(t, 202, first.Status)
		e.drain()
		require.Len(t, e.Sandbox.Patients(), 1)

		require.Positive(t, e.expireTTL(), "the event and record items expire")
		again, err := e.Send(context.Background(), ev) // byte for byte the same request
		require.NoError(t, err)
		require.Equal(t, 202, again.Status, "after the TTL the replay is a new event: "+strconv.Quote(string(again.Body)))
		e.drain()
	}
	t.Run("with a subject field", func(t *testing.T) {
		e := startE2E(t, withSubjectField(t, "Email", "tally-intake"))
		replay(t, e)
		assert.Len(t, e.Sandbox.Patients(), 1, "one person, one chart")
		assert.Zero(t, e.Sandbox.Duplicates())
		assert.Empty(t, e.deadLetters(), "an unchanged record of a known subject is acknowledged")
	})
	t.Run("control: without one", func(t *testing.T) {
		e := startE2E(t, nil)
		replay(t, e)
		assert.Len(t, e.Sandbox.Patients(), 2, "without a subject key the replay creates a second chart")
		assert.Equal(t, 1, e.Sandbox.Duplicates())
	})
}
