// Command sign-events writes the intake function's sample API Gateway
// events (events/intake/*.json) from the templates in pkg/samples, signed
// with the local test sources' secrets (events/sources/*.json).
//
// Standard Webhooks signatures are valid for five minutes, so run it (make
// sign-events) right before `sam local invoke`:
//
//	go run ./cmd/sign-events                          # sign at the current time
//	go run ./cmd/sign-events -now 2026-01-15T10:00:00Z # reproducible output
//	go run ./cmd/sign-events -check                    # are the files in sync with the templates?
//
// -check re-signs every template at the time recorded in its existing event
// file and reports the files that differ or are missing; it writes nothing.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/novamed/bridge/pkg/samples"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, time.Now); err != nil {
		fmt.Fprintln(os.Stderr, "sign-events:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer, clock func() time.Time) error {
	fs := flag.NewFlagSet("sign-events", flag.ContinueOnError)
	sourcesDir := fs.String("sources", filepath.Join("events", "sources"), "directory of the local test source definitions")
	outDir := fs.String("out", filepath.Join("events", "intake"), "directory to write the events to")
	nowFlag := fs.String("now", "", "signing time, RFC 3339 (default: the current time)")
	check := fs.Bool("check", false, "check the existing events against the templates instead of writing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments")
	}
	sources, err := samples.LoadSources(*sourcesDir)
	if err != nil {
		return err
	}
	if *check {
		return checkEvents(sources, *outDir, stdout)
	}

	now := clock()
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			return errors.New("-now must be an RFC 3339 time such as 2026-01-15T10:00:00Z")
		}
	}
	built, err := samples.Build(sources, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	for _, b := range built {
		if err := os.WriteFile(filepath.Join(*outDir, b.FileName()), b.JSON, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "signed %d events in %s at %s (Standard Webhooks samples stay valid for 5 minutes)\n",
		len(built), *outDir, now.UTC().Format(time.RFC3339))
	return nil
}

// checkEvents re-signs each template at its event file's own time and
// compares.
func checkEvents(sources []samples.Source, dir string, stdout io.Writer) error {
	ts, err := samples.Templates()
	if err != nil {
		return err
	}
	stale := 0
	for _, t := range ts {
		name := t.Name + ".json"
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			fmt.Fprintf(stdout, "missing: %s\n", name)
			stale++
			continue
		}
		ev, err := samples.DecodeEvent(data)
		if err != nil {
			fmt.Fprintf(stdout, "unreadable: %s\n", name)
			stale++
			continue
		}
		want, err := t.Event(sources, samples.EventTime(ev))
		if err != nil {
			return err
		}
		wantJSON, err := samples.EncodeEvent(want)
		if err != nil {
			return err
		}
		if !bytes.Equal(wantJSON, data) {
			fmt.Fprintf(stdout, "out of date: %s\n", name)
			stale++
		}
	}
	if stale > 0 {
		return fmt.Errorf("%d event files out of date: run make sign-events", stale)
	}
	fmt.Fprintf(stdout, "%d events in sync with their templates\n", len(ts))
	return nil
}
