package delivery

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/queue"
)

func TestMalformedCode(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"not json", "not_json"},
		{`[1]`, "not_a_json_object"},
		{`{"v":2}`, "v_unsupported_version"},
		{`{"v":1,"zzz":1}`, "unknown_key"},
		{`{"v":1,"v":1}`, "v_duplicate_key"},
		{`{"v":1}`, "id_required"},
	} {
		_, err := queue.Decode(tc.body)
		require.Error(t, err)
		code := malformedCode(err)
		assert.Equal(t, tc.want, code, "body %d", len(tc.body))
		assert.True(t, queue.ValidSlug(code))
	}
	assert.Equal(t, "malformed", malformedCode(errors.New("other")))
}
