package phi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

func TestScrubMessage(t *testing.T) {
	rec, _, err := novamed.DecodeRecord(novamed.KindPatient, patientJSON(t, map[string]any{"first_name": "José"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  string
		ok   bool
	}{
		{"documented: clinic uuid", "Clinic ID must be a valid UUID.", true},
		{"documented: clinic not found", "Clinic not found", true},
		{"documented: validation", "Validation error", true},
		{"documented: unauthorized", "Unauthorized. This can happen if the access token is invalid, expired or has been revoked", true},
		{"empty", "", true},
		{"last name", "Patient Gonzalez already exists", false},
		{"last name, other case", "patient GONZALEZ already exists", false},
		{"first name without accent", "Invalid first name: Jose", false},
		{"first name NFD", "Invalid first name: Jose\u0301", false},
		{"name with zero-width joiner", "Invalid name Gon\u200dzalez", false},
		{"part of the email", "Email maria.gonzalez is taken", false},
		{"email", "Email maria.gonzalez@mailbox.org is taken", false},
		{"street", "Cannot ship to 42 Beacon Street", false},
		{"city", "Unknown city boston", false},
		{"birth date", "Date 1984-07-23 is invalid", false},
		{"birth year", "Born in 1984?", false},
		{"clinic id", "Clinic " + inputClinic + " not found", false},
		{"full-width zip", "ZIP ０２１０８ invalid", false},
		{"phone digits", "Phone 617 555 2368 invalid", false},
		{"any email", "Contact support@novamed.care", false},
		{"long digit run", "Reference 1234567", false},
		{"escape", `Invalid value "\u004aos\u00e9"`, false},
		{"invalid utf-8", "bad \xff", false},
		{"too long to scan", strings.Repeat("a", 5000), false},
	}
	for _, tt := range tests {
		got, ok := ScrubMessage(tt.msg, rec)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if !ok && got != "" {
			t.Errorf("%s: a refused message must come back empty", tt.name)
		}
	}

	// Short names: a word of two or three characters of a value refuses the
	// message when it stands as a word, not inside another word.
	short, _, err := novamed.DecodeRecord(novamed.KindPatient, patientJSON(t, map[string]any{"first_name": "Ann", "last_name": "Li"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		msg  string
		ok   bool
	}{
		{"both short names", "Patient Ann Li already exists", false},
		{"short last name alone", "Duplicate of LI", false},
		{"short first name, other case", "ann: invalid", false},
		{"inside other words", "Clinic not found; annual limit reached", true},
		{"documented message", "Validation error", true},
	} {
		got, ok := ScrubMessage(tt.msg, short)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if !ok && got != "" {
			t.Errorf("%s: refused message returned text", tt.name)
		}
		if ok && got != tt.msg {
			t.Errorf("%s: accepted message changed", tt.name)
		}
	}

	long := strings.Repeat("Validation error. ", 30) + "é"
	got, ok := ScrubMessage(long, rec)
	if !ok || len(got) > MaxScrubbedMessage || !strings.HasPrefix(long, got) {
		t.Errorf("long message not truncated to %d bytes", MaxScrubbedMessage)
	}
	got, ok = ScrubMessage("line one\nline\ttwo", rec)
	if !ok || got != "line one line two" {
		t.Errorf("control characters not replaced")
	}
	if _, ok := ScrubMessage("Validation error", novamed.Record{}); ok {
		t.Error("a message with no record to check against was accepted")
	}
}

func TestValueNeverPrints(t *testing.T) {
	const secret = "Maria Gonzalez"
	v := Value(secret)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("x", "name", v, "group", slog.GroupValue(slog.Any("v", v)))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "name", v)
	type wrapper struct {
		Name  Value
		Inner *Value
	}
	j, err := json.Marshal(wrapper{Name: v, Inner: &v})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{logs.String(), string(j)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, v), fmt.Sprintf(verb, wrapper{Name: v}), fmt.Sprintf(verb, []Value{v}))
	}
	outputs = append(outputs, fmt.Sprint(v), fmt.Sprintln(v), v.String())
	hexSecret := fmt.Sprintf("%x", secret)
	for i, s := range outputs {
		if strings.Contains(s, secret) || strings.Contains(strings.ToLower(s), hexSecret) || strings.Contains(s, "Gonzalez") {
			t.Errorf("output %d shows the value", i)
		}
	}
	if string(v) != secret {
		t.Error("conversion back to string lost the value")
	}
}

func TestRedact(t *testing.T) {
	const input = "1984-13-45"
	_, parseErr := time.Parse(novamed.DateLayout, input)
	if parseErr == nil || !strings.Contains(parseErr.Error(), input) {
		t.Fatal("premise: time.Parse quotes its input")
	}
	_, numErr := strconv.Atoi("078-05-1120")
	sentinel := errors.New("sentinel")
	for _, c := range []struct {
		name  string
		err   error
		field string
	}{
		{"time", parseErr, "date_of_birth"},
		{"strconv", numErr, ""},
		{"wrapped sentinel", fmt.Errorf("parsing %q: %w", "Maria", sentinel), "first_name"},
	} {
		r := RedactField(c.field, c.err)
		outer := fmt.Errorf("intake: %w", r)
		var logs bytes.Buffer
		// No time attribute: a nanosecond timestamp can hold any short
		// digit string by chance, which is not a leak.
		noTime := func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{ReplaceAttr: noTime})).Error("failed", "err", r)
		// Whole values only: each is too long and too specific to turn up
		// by chance in anything but a leak.
		for _, s := range []string{r.Error(), outer.Error(), fmt.Sprintf("%+v", outer), fmt.Sprintf("%#v", r), logs.String()} {
			for _, secret := range []string{input, "078-05-1120", "Maria"} {
				if strings.Contains(s, secret) {
					t.Errorf("%s: redacted error shows the value", c.name)
				}
			}
		}
		if c.field != "" && !strings.Contains(r.Error(), c.field) {
			t.Errorf("%s: field name missing", c.name)
		}
		if !errors.Is(outer, c.err) {
			t.Errorf("%s: errors.Is lost the chain", c.name)
		}
		var re *RedactedError
		if !errors.As(outer, &re) || re.Field != c.field {
			t.Errorf("%s: errors.As(*RedactedError) failed", c.name)
		}
	}
	var pe *time.ParseError
	if !errors.As(Redact(parseErr), &pe) {
		t.Error("errors.As(*time.ParseError) lost through Redact")
	}
	var ne *strconv.NumError
	if !errors.As(Redact(numErr), &ne) {
		t.Error("errors.As(*strconv.NumError) lost through Redact")
	}
	if !errors.Is(Redact(fmt.Errorf("x: %w", sentinel)), sentinel) {
		t.Error("errors.Is lost through Redact")
	}
	if Redact(nil) != nil || RedactField("f", nil) != nil {
		t.Error("Redact(nil) is not nil")
	}
}
