package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
)

// In-memory stand-ins for the fuzz target and the benchmark, where kumo's
// round trips would measure the network instead of the handler. The
// integration tests use kumo.

// fakeParams serves parameters from a map.
type fakeParams map[string]string

func (p fakeParams) Get(_ context.Context, name string) (string, error) {
	v, ok := p[name]
	if !ok {
		return "", params.ErrNotFound
	}
	return v, nil
}

// localParams holds the test clinic, the pseudonym key and the local test
// sources.
func localParams(t testing.TB) fakeParams {
	p := fakeParams{ParamClinicID: testClinicID, ParamPseudonymKey: testPseudonymKey}
	for _, s := range loadSources(t) {
		p[ParamSources+"/"+s.Name] = string(s.JSON)
	}
	return p
}

// fakeQueue encodes every message as the real sender does (so the cost and
// the checks of encoding stay in), and keeps them unless discard is set.
// With check set, it counts in bad the messages check refuses (FuzzHandler
// reads the count after each request).
type fakeQueue struct {
	discard bool
	check   func(queue.Message) bool
	bad     atomic.Int64
	mu      sync.Mutex
	sent    []queue.Message
}

func (q *fakeQueue) Send(_ context.Context, msgs []queue.Message) error {
	for _, m := range msgs {
		if _, err := m.Encode(); err != nil {
			return err
		}
		if q.check != nil && !q.check(m) {
			q.bad.Add(1)
		}
	}
	if q.discard {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, msgs...)
	return nil
}

// fakeLedger follows the event state machine in memory; with alwaysNew
// every event is new (the benchmark posts one event many times).
type fakeLedger struct {
	alwaysNew bool
	mu        sync.Mutex
	queued    map[string]bool
}

func (l *fakeLedger) BeginEvent(_ context.Context, id string, _ int) (ledger.EventState, error) {
	if l.alwaysNew {
		return ledger.EventNew, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queued[id] {
		return ledger.EventQueued, nil
	}
	return ledger.EventNew, nil
}

func (l *fakeLedger) MarkEventQueued(_ context.Context, id string) error {
	if l.alwaysNew {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queued == nil {
		l.queued = map[string]bool{}
	}
	l.queued[id] = true
	return nil
}

func (l *fakeLedger) EventLease() time.Duration { return time.Minute }
