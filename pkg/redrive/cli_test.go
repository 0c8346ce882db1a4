package redrive_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/redrive"
)

func TestParseArgs(t *testing.T) {
	const dlq, to = "https://sqs.us-east-1.amazonaws.com/1/dlq", "https://sqs.us-east-1.amazonaws.com/1/q"
	base := func(name string) redrive.Command {
		return redrive.Command{Name: name, DLQ: dlq, Visibility: redrive.DefaultVisibilityTimeout, Wait: redrive.DefaultWaitTime}
	}
	with := func(c redrive.Command, f func(*redrive.Command)) *redrive.Command { f(&c); return &c }

	tests := []struct {
		name    string
		args    []string
		want    *redrive.Command
		wantErr string // substring of the usage error
	}{
		{"stats", []string{"stats", "--dlq", dlq}, with(base("stats"), func(*redrive.Command) {}), ""},
		{"stats json single dash", []string{"stats", "-dlq", dlq, "-json"}, with(base("stats"), func(c *redrive.Command) { c.JSON = true }), ""},
		{"stats by stack", []string{"stats", "--stack", "novamed-bridge-dev"}, with(base("stats"), func(c *redrive.Command) { c.DLQ, c.Stack = "", "novamed-bridge-dev" }), ""},
		{"peek default n", []string{"peek", "--dlq", dlq}, with(base("peek"), func(c *redrive.Command) { c.N = redrive.DefaultPeek }), ""},
		{"peek n and prefix", []string{"peek", "--dlq", dlq, "-n", "3", "--param-prefix", "/novamed-bridge/dev"},
			with(base("peek"), func(c *redrive.Command) { c.N, c.ParamPrefix = 3, "/novamed-bridge/dev" }), ""},
		{"move everything", []string{"move", "--dlq", dlq, "--to", to, "--error-class", "permanent", "--error-code", "clinic_not_found",
			"--max", "20", "--rate", "2.5", "--dry-run", "--visibility", "1m", "--wait", "0s"},
			with(base("move"), func(c *redrive.Command) {
				c.To, c.ErrorClass, c.ErrorCode, c.Max, c.Rate, c.DryRun = to, "permanent", "clinic_not_found", 20, 2.5, true
				c.Visibility, c.Wait = time.Minute, 0
			}), ""},
		{"move unconfirmed", []string{"move", "--dlq", dlq, "--to", to, "--confirm-unconfirmed", "--ledger-table", "ledger"},
			with(base("move"), func(c *redrive.Command) { c.To, c.ConfirmUnconfirmed, c.LedgerTable = to, true, "ledger" }), ""},
		{"move unconfirmed dry run needs no ledger", []string{"move", "--dlq", dlq, "--to", to, "--confirm-unconfirmed", "--dry-run"},
			with(base("move"), func(c *redrive.Command) { c.To, c.ConfirmUnconfirmed, c.DryRun = to, true, true }), ""},
		{"move native", []string{"move", "--stack", "s", "--all-native", "--rate", "100"},
			with(base("move"), func(c *redrive.Command) { c.DLQ, c.Stack, c.AllNative, c.Rate = "", "s", true, 100 }), ""},
		{"move to any target", []string{"move", "--dlq", dlq, "--to", to, "--allow-any-target"},
			with(base("move"), func(c *redrive.Command) { c.To, c.AllowAnyTarget = to, true }), ""},
		{"move native to any target", []string{"move", "--dlq", dlq, "--to", to, "--all-native", "--allow-any-target"},
			with(base("move"), func(c *redrive.Command) { c.To, c.AllNative, c.AllowAnyTarget = to, true, true }), ""},
		{"any target is a move flag", []string{"stats", "--dlq", dlq, "--allow-any-target"}, nil, "not defined: -allow-any-target"},

		{"no command", nil, nil, "a command is required"},
		{"unknown command", []string{"purge", "--dlq", dlq}, nil, "unknown command"},
		{"unknown flag", []string{"stats", "--dlq", dlq, "--force"}, nil, "flag provided but not defined: -force"},
		{"flag of another command", []string{"stats", "--dlq", dlq, "--to", to}, nil, "not defined: -to"},
		{"stray argument", []string{"stats", "--dlq", dlq, "extra"}, nil, "takes no arguments"},
		{"missing dlq", []string{"stats"}, nil, "--dlq or --stack is required"},
		{"missing dlq for move", []string{"move", "--to", to}, nil, "--dlq or --stack is required"},
		{"missing to", []string{"move", "--dlq", dlq}, nil, "--to or --stack is required"},
		{"rate zero", []string{"move", "--dlq", dlq, "--to", to, "--rate", "0"}, nil, "--rate must be above 0"},
		{"rate negative", []string{"move", "--dlq", dlq, "--to", to, "--rate", "-1"}, nil, "--rate must be above 0"},
		{"rate too high", []string{"move", "--dlq", dlq, "--to", to, "--rate", "501"}, nil, "at most 500"},
		{"rate not a number", []string{"move", "--dlq", dlq, "--to", to, "--rate", "fast"}, nil, "invalid value for --rate"},
		{"max negative", []string{"move", "--dlq", dlq, "--to", to, "--max", "-1"}, nil, "--max must not be negative"},
		{"class not a slug", []string{"move", "--dlq", dlq, "--to", to, "--error-class", "Permanent"}, nil, "--error-class must be a slug"},
		{"code not a slug", []string{"move", "--dlq", dlq, "--to", to, "--error-code", "a b"}, nil, "--error-code must be a slug"},
		{"to is the dlq", []string{"move", "--dlq", dlq, "--to", dlq}, nil, "--to is the dead-letter queue itself"},
		{"confirm without ledger", []string{"move", "--dlq", dlq, "--to", to, "--confirm-unconfirmed"}, nil, "--confirm-unconfirmed needs --ledger-table"},
		{"native with a filter", []string{"move", "--dlq", dlq, "--to", to, "--all-native", "--error-class", "permanent"}, nil, "--error-class cannot be used with it"},
		{"native dry run", []string{"move", "--dlq", dlq, "--to", to, "--all-native", "--dry-run"}, nil, "--dry-run cannot be used with it"},
		{"native fractional rate", []string{"move", "--dlq", dlq, "--to", to, "--all-native", "--rate", "1.5"}, nil, "whole number"},
		{"peek n zero", []string{"peek", "--dlq", dlq, "-n", "0"}, nil, "-n must be between 1 and 100"},
		{"peek n too high", []string{"peek", "--dlq", dlq, "-n", "101"}, nil, "-n must be between 1 and 100"},
		{"visibility too short", []string{"stats", "--dlq", dlq, "--visibility", "500ms"}, nil, "--visibility"},
		{"wait too long", []string{"stats", "--dlq", dlq, "--wait", "21s"}, nil, "--wait"},
		{"bad duration", []string{"stats", "--dlq", dlq, "--wait", "soon"}, nil, "invalid value for --wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := redrive.ParseArgs(tt.args)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, redrive.ErrUsage)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseArgsNeverQuotesValues(t *testing.T) {
	for _, args := range [][]string{
		{"move", "--dlq", "x", "--to", "y", "--rate", "Canaryvalue"},
		{"move", "--dlq", "x", "--to", "y", "--max", "Canaryvalue"},
		{"move", "--dlq", "x", "--to", "y", "--error-class", "Canaryvalue"},
		{"peek", "--dlq", "x", "-n", "Canaryvalue"},
	} {
		_, err := redrive.ParseArgs(args)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "Canaryvalue")
	}
}

func TestParseArgsHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"move", "-h"}, {"stats", "--help"}} {
		_, err := redrive.ParseArgs(args)
		require.True(t, errors.Is(err, redrive.ErrHelp), "%v", args)
	}
	// The help says what an operator must know before moving unconfirmed
	// records.
	require.Contains(t, redrive.Usage, `NOT
          moved unless you pass --confirm-unconfirmed after checking in
          NovaMed`)
	for _, flag := range []string{"--dlq", "--to", "--stack", "--json", "-n N", "--param-prefix", "--error-class", "--error-code",
		"--max", "--rate", "--dry-run", "--confirm-unconfirmed", "--ledger-table", "--all-native", "--allow-any-target", "--visibility", "--wait"} {
		require.True(t, strings.Contains(redrive.Usage, "  "+flag), "flag %s undocumented", flag)
	}
	// The help says what --allow-any-target is for, and that the template
	// does not need it.
	require.Contains(t, redrive.Usage, `template.yaml sets byQueue naming the stack's
          delivery queue, so --allow-any-target only matters for hand-made
          queues.`)
}
