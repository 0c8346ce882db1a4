package queue

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/novamed"
)

// The hand-written encoding writes exactly what encoding/json writes,
// whenever it takes a message; it takes the messages intake queues.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	m := testMessage(t)
	m.Subject = SubjectKey([]byte("0123456789abcdef"), "source", "ehr-a", "Patient/1")
	m.Digests = map[string]string{"last_name": "0123456789abcdef", "email": "fedcba9876543210", "zip": "00112233445566ff"}
	for _, m := range []Message{testMessage(t), m} {
		got, ok := m.plainBody()
		require.True(t, ok, "a message intake queues needs encoding/json")
		want, err := m.encodeJSON()
		require.NoError(t, err)
		require.Equal(t, string(want), got)
	}

	text := rapid.OneOf(rapid.String(), rapid.StringMatching(`[ -~]{0,8}`), rapid.StringMatching(`[!-~]{0,8}`), rapid.StringMatching(`[a-z0-9_]{0,8}`), rapid.StringMatching(`[a-z0-9_]{0,8}`),
		rapid.StringMatching(`[a-z<>&"\\\x00-\x1f\x7f\x{2028}\x{2029}é]{0,8}`),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 8), func(b []byte) string { return string(b) }))
	// Random messages rarely qualify for the hand-written encoding (the
	// examples above pin that intake's do): whenever one does, the two
	// encodings agree.
	rapid.Check(t, func(t *rapid.T) {
		m := Message{
			Version: rapid.IntRange(0, 2).Draw(t, "v"), ID: text.Draw(t, "id"), Source: text.Draw(t, "source"),
			Kind:         novamed.Kind(rapid.SampledFrom([]string{"patient", "practitioner", "reference", "x<y"}).Draw(t, "kind")),
			ReceivedAt:   time.Unix(rapid.Int64Range(-1e10, 1e10).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "ns")).In(time.FixedZone("z", rapid.IntRange(-50000, 50000).Draw(t, "zone"))),
			Stage:        text.Draw(t, "stage"),
			Deidentified: rapid.Bool().Draw(t, "deidentified"),
			Subject:      text.Draw(t, "subject"),
			Digests:      rapid.MapOfN(text, text, 0, 4).Draw(t, "digests"),
			Reference:    text.Draw(t, "reference"),
		}
		if rapid.Bool().Draw(t, "record") {
			// Any object json.Marshal writes, and the same re-indented.
			rec, err := json.Marshal(rapid.MapOfN(text, text, 0, 4).Draw(t, "fields"))
			require.NoError(t, err)
			if rapid.Bool().Draw(t, "indent") {
				var v any
				require.NoError(t, json.Unmarshal(rec, &v))
				rec, err = json.MarshalIndent(v, " ", "\t")
				require.NoError(t, err)
			}
			m.Record = rec
		}
		want, err := m.encodeJSON()
		require.NoError(t, err)
		if got, ok := m.plainBody(); ok {
			require.Equal(t, string(want), got)
		}
	})
}
