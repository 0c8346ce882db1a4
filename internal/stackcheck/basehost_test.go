package stackcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
)

// TestStageBindsNovaMedHost: the template's Rules accept exactly the
// Stage/NovaMedBaseUrl pairs the functions accept at start-up
// (novamed.CheckStageBaseURL), so a deployment that would not start is
// refused by CloudFormation first, and the two cannot drift apart.
func TestStageBindsNovaMedHost(t *testing.T) {
	tpl := loadTemplate(t)
	stages := at(t, tpl, "Parameters", "Stage", "AllowedValues").([]any)
	urls := at(t, tpl, "Parameters", "NovaMedBaseUrl", "AllowedValues").([]any)
	rules := at(t, tpl, "Rules").(map[string]any)
	require.NotEmpty(t, rules)

	for _, s := range stages {
		stage := s.(string)
		for _, u := range urls {
			url := u.(string)
			tplOK := true
			for name, r := range rules {
				if !evalCondition(t, at(t, r, "RuleCondition"), stage, url) {
					continue
				}
				for _, a := range at(t, r, "Assertions").([]any) {
					if !evalCondition(t, at(t, a, "Assert"), stage, url) {
						tplOK = false
						t.Logf("rule %s refuses %s + %q", name, stage, url)
					}
				}
			}
			target := url
			if target == "" {
				target = novamed.DefaultBaseURL(stage)
			}
			_, err := novamed.CheckStageBaseURL(stage, target)
			assert.Equal(t, err == nil, tplOK, "%s + %q: template and functions disagree", stage, url)
		}
	}
}

// evalCondition evaluates the few intrinsics the Rules use.
func evalCondition(t *testing.T, v any, stage, url string) bool {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "a condition is a mapping")
	switch {
	case m["Fn::Equals"] != nil:
		args := m["Fn::Equals"].([]any)
		return evalValue(t, args[0], stage, url) == evalValue(t, args[1], stage, url)
	case m["Fn::Not"] != nil:
		return !evalCondition(t, m["Fn::Not"].([]any)[0], stage, url)
	case m["Fn::Contains"] != nil:
		args := m["Fn::Contains"].([]any)
		want := evalValue(t, args[1], stage, url)
		for _, x := range args[0].([]any) {
			if x == want {
				return true
			}
		}
		return false
	}
	t.Fatalf("unsupported condition %v", m)
	return false
}

func evalValue(t *testing.T, v any, stage, url string) any {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		switch m["Ref"] {
		case "Stage":
			return stage
		case "NovaMedBaseUrl":
			return url
		}
		t.Fatalf("unsupported value %v", m)
	}
	return v
}
