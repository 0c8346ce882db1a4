package delivery

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDependencyOfCodes(t *testing.T) {
	for code, want := range map[string]string{
		"ledger_unavailable": "ledger", "ledger_unexpected": "ledger",
		"guard_unavailable": "ssm", "api_key_unavailable": "ssm", "params_unavailable": "ssm",
		"timeout": "", "validation_error": "", "": "",
	} {
		assert.Equal(t, want, dependencyOf(code), fmt.Sprintf("code %q", code))
	}
}
