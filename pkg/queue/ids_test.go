package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var eventIDRE = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}:[0-9a-f]{32}$`)

func TestEventIDStabilityAndVariation(t *testing.T) {
	body := []byte(`{"resourceType":"Patient","name":[{"family":"` + phiMarker + `"}]}`)
	otherBody := []byte(`{"resourceType":"Patient","name":[{"family":"Other"}]}`)
	base := EventID("ehr-a", "msg_1", body)

	tests := []struct {
		name string
		id   string
		same bool
	}{
		{"same sender id, same body (a retry)", EventID("ehr-a", "msg_1", body), true},
		{"same sender id, body re-serialised by the sender", EventID("ehr-a", "msg_1", otherBody), true},
		{"other sender id", EventID("ehr-a", "msg_2", body), false},
		{"other source, same sender id", EventID("ehr-b", "msg_1", body), false},
		{"no sender id: body hash", EventID("ehr-a", "", body), false},
		{"sender id differing in case", EventID("ehr-a", "MSG_1", body), false},
		{"sender id with a trailing space", EventID("ehr-a", "msg_1 ", body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Regexp(t, eventIDRE, tt.id)
			require.Equal(t, tt.same, tt.id == base)
		})
	}

	// Without a sender id, the body decides.
	require.Equal(t, EventID("ehr-a", "", body), EventID("ehr-a", "", body))
	require.Equal(t, EventID("ehr-a", "  ", body), EventID("ehr-a", "", body), "white space is no id")
	require.NotEqual(t, EventID("ehr-a", "", body), EventID("ehr-a", "", otherBody))
	require.NotEqual(t, EventID("ehr-a", "", body), EventID("ehr-b", "", body))
	require.NotEqual(t, EventID("ehr-a", "", nil), EventID("ehr-a", "", []byte{}[:0:0])+"x")

	// Length prefixes: moving bytes between source and sender id changes the id.
	require.NotEqual(t, EventID("ab", "c", nil)[3:], EventID("a", "bc", nil)[2:])
}

func TestEventIDHidesSenderID(t *testing.T) {
	// A sender id holding PHI (or anything else) does not show in the id.
	id := EventID("ehr-a", "patient "+phiMarker+" 1980-01-01", nil)
	require.NotContains(t, id, phiMarker)
	require.True(t, strings.HasPrefix(id, "ehr-a:"))
}

func TestEventIDSanitisesSource(t *testing.T) {
	tests := map[string]string{
		"ehr a":                  "ehr_a",
		"":                       "_",
		"ehr/../x":               "ehr_.._x",
		strings.Repeat("s", 100): strings.Repeat("s", 64),
		"-leading":               "-leading",
	}
	for source, prefix := range tests {
		id := EventID(source, "x", nil)
		require.True(t, strings.HasPrefix(id, prefix+":"), source)
	}
	// Two sources that sanitise alike still differ in the hash.
	require.NotEqual(t, EventID("ehr a", "x", nil), EventID("ehr_a", "x", nil))
}

func TestRecordID(t *testing.T) {
	eventID := EventID("ehr-a", "msg_1", nil)
	id := RecordID(eventID, 12)
	require.Equal(t, eventID+"/12", id)
	gotEvent, index, err := ParseRecordID(id)
	require.NoError(t, err)
	require.Equal(t, eventID, gotEvent)
	require.Equal(t, 12, index)

	for _, bad := range []string{
		"", "ehr-a", eventID, eventID + "/", eventID + "/-1", eventID + "/01", eventID + "/1000000",
		eventID + "/1/2", "ehr a:" + eventID[6:] + "/0", strings.ToUpper(eventID) + "/0",
	} {
		_, _, err := ParseRecordID(bad)
		require.ErrorIs(t, err, ErrInvalidRecordID, bad)
	}
}

// TestEventIDProperties: for any source, sender id and body, the ids are
// printable, short, and round-trip through RecordID.
func TestEventIDProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		source := rapid.StringMatching(`[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}`).Draw(t, "source")
		sender := rapid.String().Draw(t, "sender")
		body := rapid.SliceOf(rapid.Byte()).Draw(t, "body")
		index := rapid.IntRange(0, MaxRecordIndex).Draw(t, "index")

		eventID := EventID(source, sender, body)
		if !eventIDRE.MatchString(eventID) || !strings.HasPrefix(eventID, source+":") {
			t.Fatalf("event id has the wrong shape")
		}
		if eventID != EventID(source, sender, body) {
			t.Fatalf("event id is not deterministic")
		}
		gotEvent, gotIndex, err := ParseRecordID(RecordID(eventID, index))
		if err != nil || gotEvent != eventID || gotIndex != index {
			t.Fatalf("record id does not round-trip")
		}
	})
}

// EventID and SubjectKey are persisted (ledger keys, queue bodies): they
// stay the documented construction, written part by part as it reads,
// whatever buffering computes them.
func TestIDsMatchTheDocumentedConstruction(t *testing.T) {
	refEventID := func(source, sender string, body []byte) string {
		h := sha256.New()
		if strings.TrimSpace(sender) != "" {
			writeField(h, []byte(senderIDDomain))
			writeField(h, []byte(source))
			writeField(h, []byte(sender))
		} else {
			writeField(h, []byte(bodyDomain))
			writeField(h, []byte(source))
			writeField(h, body)
		}
		return sanitiseSource(source) + ":" + hex.EncodeToString(h.Sum(nil))[:eventHashHex]
	}
	refSubjectKey := func(key []byte, parts ...string) string {
		m := hmac.New(sha256.New, key)
		writeField(m, []byte(subjectDomain))
		for _, p := range parts {
			writeField(m, []byte(p))
		}
		return "sub:" + hex.EncodeToString(m.Sum(nil))[:eventHashHex]
	}
	rapid.Check(t, func(t *rapid.T) {
		source := rapid.StringMatching(`[a-z0-9 -]{0,70}`).Draw(t, "source")
		sender := rapid.OneOf(rapid.Just(""), rapid.Just("  "), rapid.String(), rapid.StringN(150, 300, -1)).Draw(t, "sender")
		body := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "body")
		require.Equal(t, refEventID(source, sender, body), EventID(source, sender, body))
		key := rapid.SliceOfN(rapid.Byte(), 1, 80).Draw(t, "key")
		parts := rapid.SliceOfN(rapid.String(), 0, 4).Draw(t, "parts")
		require.Equal(t, refSubjectKey(key, parts...), SubjectKey(key, parts...))
	})
}
