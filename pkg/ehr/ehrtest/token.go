package ehrtest

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionType is SMART's client_assertion_type.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionExp is how far ahead an assertion may expire (SMART: 5
// minutes), plus a little skew.
const maxAssertionExp = 5*time.Minute + 10*time.Second

// maxTokenBody bounds a token request.
const maxTokenBody = 64 << 10

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenRequests++
	f, faulted := s.takeFault(&s.tokenFault)
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-s.done:
		case <-r.Context().Done():
			return
		}
	}
	if faulted {
		if f.status == http.StatusBadRequest || f.status == http.StatusUnauthorized {
			writeOAuthError(w, f.status, "invalid_client")
			return
		}
		writeFault(w, f)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		s.refuse(w, RefusedGrantType, "unsupported_grant_type")
		return
	}
	if r.PostForm.Get("client_assertion_type") != assertionType {
		s.refuse(w, RefusedAssertionType, "invalid_client")
		return
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"),
		[]jose.SignatureAlgorithm{jose.ES384, jose.RS384})
	if err != nil || len(tok.Headers) != 1 {
		s.refuse(w, RefusedMalformed, "invalid_client")
		return
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		s.refuse(w, RefusedMalformed, "invalid_client")
		return
	}
	s.mu.Lock()
	c := s.clients[unverified.Issuer]
	s.mu.Unlock()
	if c == nil {
		s.refuse(w, RefusedUnknownClient, "invalid_client")
		return
	}
	kid := tok.Headers[0].KeyID
	var key *jose.JSONWebKey
	for i := range c.keys {
		if kid != "" && c.keys[i].KeyID == kid {
			key = &c.keys[i]
			break
		}
	}
	if key == nil {
		s.refuse(w, RefusedUnknownKey, "invalid_client")
		return
	}
	var claims jwt.Claims
	if err := tok.Claims(key.Key, &claims); err != nil {
		s.refuse(w, RefusedSignature, "invalid_client")
		return
	}
	now := s.now()
	switch {
	case claims.Issuer != claims.Subject:
		s.refuse(w, RefusedSubject, "invalid_client")
		return
	case len(claims.Audience) != 1 || claims.Audience[0] != s.TokenURL():
		s.refuse(w, RefusedAudience, "invalid_client")
		return
	case claims.Expiry == nil || !now.Before(claims.Expiry.Time()):
		s.refuse(w, RefusedExpired, "invalid_client")
		return
	case claims.Expiry.Time().After(now.Add(maxAssertionExp)):
		s.refuse(w, RefusedExpTooFar, "invalid_client")
		return
	case claims.ID == "":
		s.refuse(w, RefusedNoJTI, "invalid_client")
		return
	}

	scopes := strings.Fields(r.PostForm.Get("scope"))
	s.mu.Lock()
	defer s.mu.Unlock()
	for j, exp := range s.jtis {
		if !now.Before(exp) {
			delete(s.jtis, j)
		}
	}
	jtiKey := unverified.Issuer + "\x00" + claims.ID
	if _, seen := s.jtis[jtiKey]; seen {
		s.refuseLocked(w, RefusedReusedJTI, "invalid_client")
		return
	}
	s.jtis[jtiKey] = claims.Expiry.Time()
	if len(scopes) == 0 {
		s.refuseLocked(w, RefusedScope, "invalid_scope")
		return
	}
	for _, sc := range scopes {
		if !c.scopes[sc] {
			s.refuseLocked(w, RefusedScope, "invalid_scope")
			return
		}
	}

	raw := randomToken()
	s.tokens[sha256.Sum256([]byte(raw))] = token{client: unverified.Issuer, scopes: scopes, expires: now.Add(s.lifetime)}
	s.tokensIssued++
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": raw,
		"token_type":   "bearer",
		"expires_in":   int(s.lifetime / time.Second),
		"scope":        strings.Join(scopes, " "),
	})
}

func (s *Server) refuse(w http.ResponseWriter, reason, oauthError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseLocked(w, reason, oauthError)
}

func (s *Server) refuseLocked(w http.ResponseWriter, reason, oauthError string) {
	s.refusals[reason]++
	writeOAuthError(w, http.StatusBadRequest, oauthError)
}

func writeOAuthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
