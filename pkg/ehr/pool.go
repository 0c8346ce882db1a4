package ehr

import (
	"sync"

	"github.com/novamed/bridge/pkg/source"
)

// Pool keeps one Fetcher per source, so its token is cached across
// invocations, and replaces it when the source's fhir_server changes (a
// re-read definition that is Equal keeps the Fetcher). It is safe for
// concurrent use.
type Pool struct {
	opts []Option

	mu       sync.Mutex
	fetchers map[string]pooled
}

type pooled struct {
	fs *source.FHIRServer
	f  *Fetcher
}

// NewPool returns a Pool whose Fetchers are made with opts.
func NewPool(opts ...Option) *Pool {
	return &Pool{opts: opts, fetchers: map[string]pooled{}}
}

// Fetcher returns the Fetcher of the source called name with fhir_server
// fs, making one when there is none or fs changed.
func (p *Pool) Fetcher(name string, fs *source.FHIRServer) (*Fetcher, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.fetchers[name]; ok && cur.fs.Equal(fs) {
		return cur.f, nil
	}
	f, err := New(fs, p.opts...)
	if err != nil {
		return nil, err
	}
	p.fetchers[name] = pooled{fs: fs, f: f}
	return f, nil
}
