package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

// standIn is a NovaMed sandbox with the fault injection these tests use:
// it answers as novamed-api.md documents (x-api-key, strict bodies,
// 201 with an id, the documented error body). pkg/novamed/novamedtest was not
// in the tree when these tests were written; its FailNext, SetLatency,
// DropAfterCreate, SetAPIKey, MarkDevelopment and Violations are meant to
// replace this type once it lands.
type standIn struct {
	srv *httptest.Server

	mu         sync.Mutex
	key        string
	latency    time.Duration
	failN      int
	failStatus int
	failRA     string
	failMsg    string
	lastBody   []byte
	drop       bool
	dev        bool
	canaries   []string
	violations int
	created    int
	requests   int
}

func newStandIn(t testing.TB) *standIn {
	s := &standIn{key: apiKeyV1}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// newTLSStandIn serves HTTPS; prodClient routes NovaMed's production host
// to it, so the production path can be tested without leaving the machine.
func newTLSStandIn(t testing.TB) *standIn {
	s := &standIn{key: apiKeyV1}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) prodClient() *http.Client {
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	addr := s.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig.ServerName = "example.com" // in httptest's certificate
	return &http.Client{Transport: tr}
}

func (s *standIn) URL() string          { return s.srv.URL }
func (s *standIn) Client() *http.Client { return s.srv.Client() }

func (s *standIn) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus, s.failRA, s.failMsg = n, status, retryAfter, ""
}

// FailNextMessage is FailNext with NovaMed's error message chosen (one that
// echoes the record, say).
func (s *standIn) FailNextMessage(status int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus, s.failRA, s.failMsg = 1, status, "", msg
}

// LastBody returns the last request body received.
func (s *standIn) LastBody() []byte { s.mu.Lock(); defer s.mu.Unlock(); return s.lastBody }

func (s *standIn) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }
func (s *standIn) DropAfterCreate()           { s.mu.Lock(); s.drop = true; s.mu.Unlock() }
func (s *standIn) SetAPIKey(k string)         { s.mu.Lock(); s.key = k; s.mu.Unlock() }

func (s *standIn) MarkDevelopment(canaries []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dev, s.canaries = true, canaries
}

func (s *standIn) Violations() int { s.mu.Lock(); defer s.mu.Unlock(); return s.violations }
func (s *standIn) Created() int    { s.mu.Lock(); defer s.mu.Unlock(); return s.created }
func (s *standIn) Requests() int   { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"success": false, "error": map[string]any{"message": msg}})
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.requests++
	s.lastBody = body
	latency := s.latency
	key := s.key
	if s.dev {
		lower := strings.ToLower(string(body))
		for _, c := range s.canaries {
			if strings.Contains(lower, strings.ToLower(c)) {
				s.violations++
				break
			}
		}
	}
	var fail int
	var ra, failMsg string
	if s.failN > 0 {
		s.failN--
		fail, ra, failMsg = s.failStatus, s.failRA, s.failMsg
	}
	drop := s.drop
	s.drop = false
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	got := r.Header.Values("x-api-key")
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(key)) != 1 {
		writeError(w, http.StatusUnauthorized, "Unauthorized. This can happen if the access token is invalid, expired or has been revoked")
		return
	}
	if fail != 0 {
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		msg := failMsg
		if msg == "" {
			msg = map[int]string{400: "Validation error", 404: "Resource not found"}[fail]
		}
		if msg == "" {
			msg = "Internal error"
		}
		writeError(w, fail, msg)
		return
	}
	var kind novamed.Kind
	idField := ""
	switch r.URL.Path {
	case novamed.PatientPath:
		kind, idField = novamed.KindPatient, "patient_id"
	case novamed.PractitionerPath:
		kind, idField = novamed.KindPractitioner, "practitioner_id"
	default:
		writeError(w, http.StatusNotFound, "Resource not found")
		return
	}
	rec, _, err := novamed.DecodeRecord(kind, body)
	if err == nil {
		err = rec.Validate()
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "Validation error")
		return
	}
	s.mu.Lock()
	s.created++
	s.mu.Unlock()
	if drop {
		hj, ok := w.(http.Hijacker)
		if ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "data": map[string]string{idField: newUUID()}})
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
