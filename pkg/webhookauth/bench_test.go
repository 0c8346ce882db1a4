package webhookauth_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// BenchmarkStandardWebhooks measures a valid request and a hostile one: a
// signature header of a thousand entries, of which only the first
// DefaultMaxSignatures are examined.
func BenchmarkStandardWebhooks(b *testing.B) {
	now := time.Unix(vectorTimestamp, 0)
	body := []byte(strings.Repeat(`{"test": 2432232314}`, 1000))
	v, err := webhookauth.NewStandardWebhooks([]string{otherSecret, vectorSecret})
	if err != nil {
		b.Fatal(err)
	}
	valid, err := webhookauth.StandardWebhooksHeader(vectorSecret, vectorID, now, body)
	if err != nil {
		b.Fatal(err)
	}
	hostile := valid.Clone()
	hostile.Set("webhook-signature", strings.Repeat(vectorUnrelated+" ", 1000))
	for _, bc := range []struct {
		name string
		h    http.Header
	}{{"valid", valid}, {"hostile", hostile}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, _ = v.Verify(bc.h, body, now)
			}
		})
	}
}
