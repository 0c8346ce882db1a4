package jsonscan

import (
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

// AsMarshalled is what a string reads back as after json.Marshal and
// json.Unmarshal, for any bytes.
func TestAsMarshalledMatchesARoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := string(rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "bytes"))
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := AsMarshalled(s); got != back {
			t.Fatalf("AsMarshalled(%q) = %q, a round trip gives %q", s, got, back)
		}
	})
}
