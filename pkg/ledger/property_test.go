package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/ledger"
)

// recordModel is the documented record state machine in plain Go.
type recordModel struct {
	state    ledger.RecordState // "" = absent
	attempts int
	until    time.Time
	nmID     string
}

// TestRecordStateMachineProperty runs random sequences of dispatch and
// operator actions, with the clock moving, against kumo and the model. The
// safety property behind it: a claim is granted only for a record that was
// never attempted or whose last attempt certainly created nothing.
func TestRecordStateMachineProperty(t *testing.T) {
	srv := newServer(t)
	table := srv.newTable(t)
	var seq atomic.Int64
	const lease = time.Minute
	ctx := context.Background()

	rapid.Check(t, func(rt *rapid.T) {
		clock := newFakeClock()
		l := ledger.New(srv.client, table, ledger.WithClock(clock.Now), ledger.WithLease(lease))
		rec := fmt.Sprintf("prop-%d/0", seq.Add(1))
		var m recordModel
		ids := []string{nmID, "6f1d1a3e-9a57-4f5e-8c3b-1f0b8e2d4c77"}

		// outcome checks err against the model's expectation for a
		// transition allowed from the given states, idempotent in done.
		outcome := func(op string, err error, allowed bool, done bool) {
			switch {
			case m.state == "":
				if !errors.Is(err, ledger.ErrNotFound) {
					rt.Fatalf("%s on absent record: got %v, want ErrNotFound", op, err)
				}
			case allowed || done:
				if err != nil {
					rt.Fatalf("%s in state %s: unexpected error %v", op, m.state, err)
				}
			default:
				var se *ledger.StateError
				if !errors.As(err, &se) || se.State != string(m.state) {
					rt.Fatalf("%s in state %s: got %v, want StateError", op, m.state, err)
				}
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"claim": func(rt *rapid.T) {
				c, err := l.ClaimDelivery(ctx, rec)
				if err != nil {
					rt.Fatalf("ClaimDelivery: %v", err)
				}
				want := ledger.ClaimStatus(0)
				now := clock.Now()
				switch m.state {
				case "", ledger.RecordReleased:
					want = ledger.ClaimGranted
					m.state, m.attempts, m.until = ledger.RecordDelivering, m.attempts+1, now.Add(lease)
				case ledger.RecordDelivered:
					want = ledger.AlreadyDelivered
					if c.NovaMedID != m.nmID {
						rt.Fatalf("AlreadyDelivered with another NovaMed id")
					}
				case ledger.RecordUnconfirmed:
					want = ledger.Unconfirmed
				case ledger.RecordDelivering:
					if now.Before(m.until) {
						want = ledger.InFlight
					} else {
						want, m.state = ledger.Unconfirmed, ledger.RecordUnconfirmed
					}
				}
				if c.Status != want {
					rt.Fatalf("ClaimDelivery in state %q: got %v, want %v", m.state, c.Status, want)
				}
				if c.Attempts != m.attempts {
					rt.Fatalf("ClaimDelivery: attempts %d, want %d", c.Attempts, m.attempts)
				}
			},
			"delivered": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "novamed id")
				err := l.MarkDelivered(ctx, rec, id)
				ok := m.state != ledger.RecordDelivered || m.nmID == id
				outcome("MarkDelivered", err, ok, false)
				if m.state != "" && ok {
					m.state, m.nmID = ledger.RecordDelivered, id
				}
			},
			"not delivered": func(rt *rapid.T) {
				err := l.MarkNotDelivered(ctx, rec)
				outcome("MarkNotDelivered", err, m.state == ledger.RecordDelivering, m.state == ledger.RecordReleased)
				if m.state == ledger.RecordDelivering {
					m.state = ledger.RecordReleased
				}
			},
			"unconfirmed": func(rt *rapid.T) {
				err := l.MarkUnconfirmed(ctx, rec)
				outcome("MarkUnconfirmed", err, m.state == ledger.RecordDelivering, m.state == ledger.RecordUnconfirmed)
				if m.state == ledger.RecordDelivering {
					m.state = ledger.RecordUnconfirmed
				}
			},
			"resolve": func(rt *rapid.T) {
				err := l.ResolveUnconfirmed(ctx, rec)
				ok := m.state == ledger.RecordUnconfirmed ||
					(m.state == ledger.RecordDelivering && !clock.Now().Before(m.until))
				outcome("ResolveUnconfirmed", err, ok, m.state == ledger.RecordReleased)
				if ok {
					m.state = ledger.RecordReleased
				}
			},
			"advance": func(rt *rapid.T) {
				clock.Advance(time.Duration(rapid.IntRange(1, 90).Draw(rt, "seconds")) * time.Second)
			},
			"": func(rt *rapid.T) {
				info, err := l.Record(ctx, rec)
				if m.state == "" {
					if !errors.Is(err, ledger.ErrNotFound) {
						rt.Fatalf("Record on absent record: %v", err)
					}
					return
				}
				if err != nil {
					rt.Fatalf("Record: %v", err)
				}
				if info.State != m.state || info.Attempts != m.attempts || info.NovaMedID != m.nmID {
					rt.Fatalf("stored state %s/%d, model %s/%d (or NovaMed id differs)",
						info.State, info.Attempts, m.state, m.attempts)
				}
				if (m.state == ledger.RecordDelivering) != !info.ClaimedUntil.IsZero() {
					rt.Fatalf("claimed_until present=%v in state %s", !info.ClaimedUntil.IsZero(), m.state)
				}
			},
		})
	})
}
