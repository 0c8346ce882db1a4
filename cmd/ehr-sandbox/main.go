// Command ehr-sandbox serves the EHR sandbox (package ehrtest) on a loopback
// port for the local stack and manual testing: a small FHIR R4 server behind
// a SMART Backend Services token endpoint. It registers one client with the
// public JWKS smart-keygen made, loads resources from a file, prints the
// URLs a fhir_server definition needs, and serves until SIGINT or SIGTERM.
//
//	ehr-sandbox -client-id bridge -jwks bridge.jwks.json -resources seed.json
//
// The resources file is a JSON array of resources or a FHIR Bundle (each
// entry's resource is loaded). The sandbox refuses to listen on anything but
// a loopback address.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/novamed/bridge/pkg/ehr/ehrtest"
)

// defaultScopes are granted when -scope is not given.
const defaultScopes = "system/Patient.read system/Practitioner.read system/Encounter.read system/AuditEvent.read system/Appointment.read"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ehr-sandbox:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ehr-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	clientID := fs.String("client-id", "", "client `id` to register (required)")
	jwksPath := fs.String("jwks", "", "public JWKS `file` of the client (required; smart-keygen -jwks)")
	scope := fs.String("scope", defaultScopes, "scopes the client may be granted, space-separated")
	resources := fs.String("resources", "", "`file` of resources to serve: a JSON array or a Bundle")
	lifetime := fs.Duration("token-lifetime", ehrtest.DefaultTokenLifetime, "access token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return errors.New("unexpected arguments")
	case *clientID == "" || *jwksPath == "":
		return errors.New("-client-id and -jwks are required")
	case *lifetime < time.Second:
		return errors.New("-token-lifetime must be at least 1s")
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return errors.New("-addr must be a loopback host:port (127.0.0.1, ::1 or localhost)")
	}
	jwks, err := readJWKS(*jwksPath)
	if err != nil {
		return err
	}
	seed, err := readResources(*resources)
	if err != nil {
		return err
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	s := ehrtest.New(ehrtest.WithListener(l), ehrtest.WithLogger(logger), ehrtest.WithTokenLifetime(*lifetime))
	defer s.Close()
	s.RegisterClient(*clientID, jwks, strings.Fields(*scope)...)
	for i, r := range seed {
		if err := s.Put(r); err != nil {
			return fmt.Errorf("resources[%d]: %w", i, err)
		}
	}
	fmt.Fprintf(stdout, `EHR sandbox
url:       %s
base_url:  %s
token_url: %s
client_id: %s
resources: %d

Put these in the source's fhir_server with the private key smart-keygen made.
Serving until SIGINT or SIGTERM.
`, s.URL, s.BaseURL(), s.TokenURL(), *clientID, len(seed))
	<-ctx.Done()
	logger.Info("ehr sandbox stopping", "token_requests", s.TokenRequests(), "tokens_issued", s.TokensIssued(), "reads", s.TotalFetches())
	return nil
}

func readJWKS(path string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	data, err := os.ReadFile(path)
	if err != nil {
		return set, fmt.Errorf("jwks: %w", err)
	}
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) == 0 {
		return set, errors.New("jwks: not a JWKS with at least one key")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return set, errors.New("jwks: holds a private key; give the public JWKS")
		}
	}
	return set, nil
}

func readResources(path string) ([]json.RawMessage, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	var list []json.RawMessage
	if json.Unmarshal(data, &list) == nil {
		return list, nil
	}
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(data, &bundle) != nil || bundle.ResourceType != "Bundle" {
		return nil, errors.New("resources: not a JSON array or a Bundle")
	}
	for _, e := range bundle.Entry {
		list = append(list, e.Resource)
	}
	return list, nil
}
