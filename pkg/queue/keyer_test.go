package queue

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/novamed"
)

// A Keyer gives what SubjectKey and RecordDigests give under its key, call
// after call (its MACs are reused), for keys of any length.
func TestKeyerMatchesTheFunctions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), 1, 100).Draw(t, "key")
		k := NewKeyer(key)
		for range 3 {
			parts := rapid.SliceOfN(rapid.String(), 0, 4).Draw(t, "parts")
			require.Equal(t, SubjectKey(key, parts...), k.SubjectKey(parts...))
			rec := novamed.Record{Kind: novamed.KindPatient, Patient: &novamed.PatientRequest{
				FirstName: rapid.String().Draw(t, "first"), Email: rapid.String().Draw(t, "email"),
				Zip: rapid.String().Draw(t, "zip"),
			}}
			want, err := RecordDigests(key, rec)
			require.NoError(t, err)
			got, err := k.RecordDigests(rec)
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	})
}

// Concurrent callers get correct results (run with -race).
func TestKeyerConcurrent(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	k := NewKeyer(key)
	want := SubjectKey(key, "source", "ehr-a", "Patient/1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if k.SubjectKey("source", "ehr-a", "Patient/1") != want {
					t.Error("concurrent subject key differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestKeyerNeverPrintsTheKey(t *testing.T) {
	const secret = "KEYMATERIAL-0123456789"
	k := NewKeyer([]byte(secret))
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "keyer", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v %#v %s %x", k, k, k, k), logged.String()} {
		require.NotContains(t, out, secret)
		require.NotContains(t, out, fmt.Sprintf("%x", secret))
	}
}
