// Command novamed-sandbox serves the NovaMed sandbox (package novamedtest) on
// a loopback port for the local stack and manual testing. It prints the base
// URL, the clinic id and the test API key, and serves until SIGINT or SIGTERM.
//
//	novamed-sandbox -addr 127.0.0.1:8089 -development -canaries canaries.txt
//
// The key it prints is a local test key, nothing NovaMed issued. The sandbox
// refuses to listen on anything but a loopback address.
package main

import (
	"bufio"
	"context"
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

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/novamed/novamedtest"
	"github.com/novamed/bridge/pkg/outbound"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "novamed-sandbox:", err)
		os.Exit(2)
	}
}

// run serves the sandbox until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("novamed-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	apiKey := fs.String("api-key", "", "API key to accept (default: a random test key)")
	clinicID := fs.String("clinic-id", "", "clinic `UUID` to create (default: a random one)")
	development := fs.Bool("development", false, "act as NovaMed Development: check every request for canaries and log hits")
	canaries := fs.String("canaries", "", "`file` of canary values, one per line, that must never arrive (with -development)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !outbound.IsLoopbackHost(host) {
		return errors.New("-addr must be a loopback host:port (127.0.0.1, ::1 or localhost)")
	}
	if *clinicID != "" && !novamed.IsUUID(*clinicID) {
		return errors.New("-clinic-id must be a UUID")
	}
	values, err := readCanaries(*canaries)
	if err != nil {
		return err
	}
	if len(values) > 0 && !*development {
		return errors.New("-canaries needs -development")
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := []novamedtest.Option{novamedtest.WithLogger(logger), novamedtest.WithT(violationLog{logger})}
	if *apiKey != "" {
		opts = append(opts, novamedtest.WithAPIKey(*apiKey))
	}
	if *clinicID != "" {
		opts = append(opts, novamedtest.WithClinicID(*clinicID))
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s := novamedtest.NewUnstarted(opts...)
	if *development {
		s.MarkDevelopment(values...)
	}
	s.Start(l)
	defer s.Close()

	printBanner(stdout, s, *development, len(values))
	<-ctx.Done()
	logger.Info("novamed sandbox stopping", "requests", s.Requests(), "patients", len(s.Patients()),
		"practitioners", len(s.Practitioners()), "duplicates", s.Duplicates(), "violations", len(s.Violations()))
	return nil
}

// readCanaries reads one canary per non-blank line. The values come from a
// file, not flags, so they stay out of the process list and shell history.
func readCanaries(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("canaries: %w", err)
	}
	defer f.Close()
	var values []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v := strings.TrimSpace(sc.Text()); v != "" {
			values = append(values, v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("canaries: %w", err)
	}
	return values, nil
}

// violationLog turns the sandbox's test failures (development violations,
// which name a field and a canary index, never a value) into log lines.
type violationLog struct{ log *slog.Logger }

func (v violationLog) Errorf(format string, args ...any) {
	v.log.Error("development violation", "detail", fmt.Sprintf(format, args...))
}

func (violationLog) Cleanup(func()) {}

func printBanner(w io.Writer, s *novamedtest.Server, development bool, canaries int) {
	env := "NovaMed sandbox"
	if development {
		env += fmt.Sprintf(" (Development: %d canaries checked)", canaries)
	}
	fmt.Fprintf(w, `%s
url:       %s
clinic id: %s
api key:   %s

The key is a local test key, not one NovaMed issued. Point the bridge at the sandbox:
  export NOVAMED_BASE_URL=%s
  aws ssm put-parameter --name "$PARAM_PREFIX/api-key" --type SecureString --overwrite --value '%s'
  aws ssm put-parameter --name "$PARAM_PREFIX/clinic-id" --type String --overwrite --value '%s'
or call it directly:
  curl -sS -H 'x-api-key: %s' -H 'Content-Type: application/json' -H 'Accept: application/json' \
    -d '{"clinic_id":"%s","first_name":"Test","last_name":"Patient","date_of_birth":"1990-01-01","email":"test@example.com"}' \
    %s%s
Serving until SIGINT or SIGTERM.
`, env, s.URL, s.ClinicID(), s.APIKey(), s.URL, s.APIKey(), s.ClinicID(), s.APIKey(), s.ClinicID(), s.URL, novamed.PatientPath)
}
