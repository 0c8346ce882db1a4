package stackcheck

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// miQuery is the one shape of Metrics Insights query the template uses.
var miQuery = regexp.MustCompile(`^SELECT (SUM|AVG|MIN|MAX|COUNT)\((\w+)\) FROM NovaMedBridge WHERE Stage = '\$\{Stage\}'(?: GROUP BY (\w+(?:, \w+)*))?$`)

// checkMetric fails unless the code emits name with every key of groupBy
// among its dimensions.
func checkMetric(t *testing.T, code emitted, where, name string, groupBy []string) {
	t.Helper()
	if !assert.Containsf(t, code, name, "%s: no code emits %s", where, name) {
		return
	}
	keys := code.keys(name)
	for _, k := range groupBy {
		assert.Truef(t, keys[k], "%s: %s is never emitted with dimension %s", where, name, k)
	}
}

func TestCodeMetricsScannerFindsKnownEmissions(t *testing.T) {
	code := codeMetrics(t)
	assert.True(t, code.has("DeliveryLatency", "Stage"))
	assert.True(t, code.has("DeadLettered", "Stage", "Class"))
	assert.True(t, code.has("Rejected", "Stage", "Reason"))
	assert.True(t, code.has("Webhooks", "Stage", "Source", "Outcome"))
	assert.False(t, code.has("DeliveryLatency", "Stage", "Class"))
	assert.NotContains(t, code, "NoSuchMetricAnywhere")
	assert.NotContains(t, code, "retry_in", "a slog.Duration attribute is not a metric")
}

type widget struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

// dashboard returns the dashboard body. Every ${...} of the Fn::Sub sits
// inside a JSON string, so the body parses before substitution.
func dashboard(t *testing.T, tpl map[string]any) (string, []widget) {
	t.Helper()
	r := resource(t, tpl, "OperationsDashboard")
	require.Equal(t, "AWS::CloudWatch::Dashboard", r["Type"])
	assert.Equal(t, map[string]any{"Ref": "AWS::StackName"}, at(t, r, "Properties", "DashboardName"),
		"the alarms' links name the dashboard by the stack's name")
	body, ok := at(t, r, "Properties", "DashboardBody", "Fn::Sub").(string)
	require.True(t, ok, "DashboardBody must be a !Sub string")
	var d struct {
		Widgets []widget `json:"widgets"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	require.NotEmpty(t, d.Widgets)
	return body, d.Widgets
}

// TestDashboardSubstitutionsNameTemplateResources: every ${...} names a
// parameter, a pseudo parameter or a resource (attribute) of the template.
func TestDashboardSubstitutionsNameTemplateResources(t *testing.T) {
	tpl := loadTemplate(t)
	body, _ := dashboard(t, tpl)
	resources := at(t, tpl, "Resources").(map[string]any)
	params := at(t, tpl, "Parameters").(map[string]any)
	refs := regexp.MustCompile(`\$\{([^}]+)\}`).FindAllStringSubmatch(body, -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		name, _, _ := strings.Cut(m[1], ".")
		_, isResource := resources[name]
		_, isParam := params[name]
		assert.Truef(t, isResource || isParam || strings.HasPrefix(name, "AWS::"), "${%s} names nothing in the template", m[1])
	}
}

// TestDashboardShowsWhatOnCallLooksAtFirst parses every metric widget,
// checks each custom metric against the code that emits it (name and
// dimensions) and each AWS metric against the stack's resources, and pins
// the figures issue 18 asks for.
func TestDashboardShowsWhatOnCallLooksAtFirst(t *testing.T) {
	tpl := loadTemplate(t)
	code := codeMetrics(t)
	_, widgets := dashboard(t, tpl)

	seen := map[string]bool{} // "Namespace/Metric" or "Namespace/Metric/QueueName"
	groups := map[string][]string{}
	var latencyStats []string
	var alarms []any
	for _, w := range widgets {
		title, _ := w.Properties["title"].(string)
		switch w.Type {
		case "alarm":
			alarms, _ = w.Properties["alarms"].([]any)
			continue
		case "metric":
		default:
			t.Errorf("widget %q: unexpected type %s", title, w.Type)
			continue
		}
		assert.Equal(t, "${AWS::Region}", w.Properties["region"], title)
		lines, ok := w.Properties["metrics"].([]any)
		require.Truef(t, ok && len(lines) > 0, "widget %q has no metrics", title)
		for _, l := range lines {
			line := l.([]any)
			require.NotEmpty(t, line, title)
			if q, ok := line[0].(map[string]any); ok {
				expr, _ := q["expression"].(string)
				m := miQuery.FindStringSubmatch(expr)
				if !assert.NotNilf(t, m, "widget %q: query %q is not SELECT FN(Metric) FROM NovaMedBridge WHERE Stage = '${Stage}' [GROUP BY ...]", title, expr) {
					continue
				}
				var by []string
				if m[3] != "" {
					by = strings.Split(m[3], ", ")
				}
				checkMetric(t, code, title, m[2], by)
				seen["NovaMedBridge/"+m[2]] = true
				groups[m[2]] = by
				continue
			}
			ns, name := line[0].(string), line[1].(string)
			dims := map[string]string{}
			var opts map[string]any
			for i := 2; i < len(line); i++ {
				if o, ok := line[i].(map[string]any); ok {
					opts = o
					break
				}
				require.Lessf(t, i+1, len(line), "widget %q: dimension %v without a value", title, line[i])
				dims[line[i].(string)] = line[i+1].(string)
				i++
			}
			switch ns {
			case "NovaMedBridge":
				// A plain metric line matches one exact dimension set.
				keys := make([]string, 0, len(dims))
				for k := range dims {
					keys = append(keys, k)
				}
				assert.Truef(t, code.has(name, keys...), "widget %q: no code emits %s with exactly %v", title, name, keys)
				assert.Equal(t, "${Stage}", dims["Stage"], title)
				seen[ns+"/"+name] = true
				if name == "DeliveryLatency" && opts != nil {
					latencyStats = append(latencyStats, opts["stat"].(string))
				}
			case "AWS/SQS":
				q := dims["QueueName"]
				assert.Contains(t, []string{"${DeliveryQueue.QueueName}", "${DeadLetterQueue.QueueName}"}, q, title)
				seen[ns+"/"+name+"/"+q] = true
			case "AWS/Lambda":
				assert.Contains(t, []string{"${IntakeFunction}", "${DispatchFunction}"}, dims["FunctionName"], title)
			default:
				t.Errorf("widget %q: unexpected namespace %s", title, ns)
			}
		}
	}

	// The figures of issue 18.
	for _, want := range []string{
		"NovaMedBridge/Webhooks", "NovaMedBridge/Rejected", "NovaMedBridge/Accepted", "NovaMedBridge/Held",
		"NovaMedBridge/Delivered", "NovaMedBridge/Retried", "NovaMedBridge/DeadLettered",
		"NovaMedBridge/DeliveryLatency", "NovaMedBridge/NovaMedAnswers", "NovaMedBridge/DependencyErrors",
		"AWS/SQS/ApproximateNumberOfMessagesVisible/${DeliveryQueue.QueueName}",
		"AWS/SQS/ApproximateNumberOfMessagesVisible/${DeadLetterQueue.QueueName}",
		"AWS/SQS/ApproximateAgeOfOldestMessage/${DeliveryQueue.QueueName}",
		"AWS/SQS/ApproximateAgeOfOldestMessage/${DeadLetterQueue.QueueName}",
	} {
		assert.Truef(t, seen[want], "the dashboard does not show %s", want)
	}
	assert.Equal(t, []string{"Source", "Outcome"}, groups["Webhooks"], "webhooks by source")
	assert.Equal(t, []string{"Class"}, groups["DeadLettered"], "dead letters by class")
	assert.Equal(t, []string{"Status"}, groups["NovaMedAnswers"], "NovaMed answers by status")
	assert.Equal(t, []string{"Dependency"}, groups["DependencyErrors"], "SSM and ledger errors")
	sort.Strings(latencyStats)
	assert.Equal(t, []string{"p50", "p99"}, latencyStats)

	// The alarm widget shows every alarm of the stack.
	var want []any
	for name, r := range at(t, tpl, "Resources").(map[string]any) {
		if r.(map[string]any)["Type"] == "AWS::CloudWatch::Alarm" {
			want = append(want, "${"+name+".Arn}")
		}
	}
	assert.ElementsMatch(t, want, alarms)
}

// TestAlarmsLinkTheDashboardAndTheRunbook: every alarm's description links
// the dashboard and names a section of docs/operations.md that exists.
func TestAlarmsLinkTheDashboardAndTheRunbook(t *testing.T) {
	tpl := loadTemplate(t)
	ops, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	section := regexp.MustCompile(`docs/operations\.md, "([^"]+)"`)
	n := 0
	for name, r := range at(t, tpl, "Resources").(map[string]any) {
		if r.(map[string]any)["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		n++
		desc, ok := at(t, r, "Properties", "AlarmDescription", "Fn::Sub").(string)
		require.Truef(t, ok, "%s: AlarmDescription must be a !Sub with the dashboard link", name)
		assert.Contains(t, desc, "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards/dashboard/${AWS::StackName}", name)
		m := section.FindStringSubmatch(desc)
		if assert.NotNilf(t, m, "%s: the description names no section of docs/operations.md", name) {
			heading := regexp.MustCompile(`(?m)^#+ ` + regexp.QuoteMeta(m[1]) + `$`)
			assert.Truef(t, heading.Match(ops), "%s: docs/operations.md has no section %q", name, m[1])
		}
	}
	assert.Equal(t, 4, n)
}

// TestHeldRecordsAlarm: any held record in the last hour alarms, whatever
// extra dimensions (reason, source) Held carries.
func TestHeldRecordsAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	p := at(t, resource(t, tpl, "HeldRecordsAlarm"), "Properties")
	metrics := at(t, p, "Metrics").([]any)
	require.Len(t, metrics, 1)
	q := metrics[0]
	expr := at(t, q, "Expression", "Fn::Sub").(string)
	m := miQuery.FindStringSubmatch(expr)
	require.NotNil(t, m, expr)
	assert.Equal(t, []string{"SUM", "Held", ""}, m[1:])
	checkMetric(t, codeMetrics(t), "HeldRecordsAlarm", "Held", nil)
	assert.Equal(t, true, at(t, q, "ReturnData"))
	assert.Equal(t, 3600, at(t, q, "Period").(int)*at(t, p, "EvaluationPeriods").(int), "a one-hour window")
	assert.Equal(t, 1, at(t, p, "DatapointsToAlarm"))
	assert.Equal(t, 1, at(t, p, "Threshold"))
	assert.Equal(t, "GreaterThanOrEqualToThreshold", at(t, p, "ComparisonOperator"))
	assert.Equal(t, "notBreaching", at(t, p, "TreatMissingData"))
	assert.Equal(t, map[string]any{"Fn::If": []any{"HasAlarmTopic", []any{map[string]any{"Ref": "AlarmTopicArn"}}, map[string]any{"Ref": "AWS::NoValue"}}},
		at(t, p, "AlarmActions"))
}

// TestSavedQueries pins the Logs Insights query definitions: grouped under
// one prefix, scoped to the functions' log groups, documented.
func TestSavedQueries(t *testing.T) {
	tpl := loadTemplate(t)
	ops, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	groups := []any{map[string]any{"Ref": "IntakeLogGroup"}, map[string]any{"Ref": "DispatchLogGroup"}}
	var names []string
	for id, r := range at(t, tpl, "Resources").(map[string]any) {
		if r.(map[string]any)["Type"] != "AWS::Logs::QueryDefinition" {
			continue
		}
		p := at(t, r, "Properties")
		name := at(t, p, "Name", "Fn::Sub").(string)
		short, ok := strings.CutPrefix(name, "NovaMedBridge/${AWS::StackName}/")
		require.Truef(t, ok, "%s: name %q lacks the common prefix", id, name)
		names = append(names, short)
		lg := at(t, p, "LogGroupNames").([]any)
		assert.NotEmpty(t, lg, id)
		for _, g := range lg {
			assert.Contains(t, groups, g, id)
		}
		query := at(t, p, "QueryString").(string)
		assert.NotEmpty(t, strings.TrimSpace(query), id)
		assert.Containsf(t, string(ops), "`"+short+"`", "docs/operations.md does not describe the saved query %s", short)
	}
	sort.Strings(names)
	assert.Equal(t, []string{
		"dead-letters-by-class", "error-codes-across-sources", "errors",
		"invocations-and-gb-seconds", "sender-401s", "slowest-deliveries",
	}, names)
}
