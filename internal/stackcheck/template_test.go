package stackcheck

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/devstack"
)

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("../../template.yaml")
	require.NoError(t, err)
	tpl, err := ParseTemplate(data)
	require.NoError(t, err)
	return tpl
}

// at walks nested maps by key; it fails the test when a key is missing.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		require.Truef(t, ok, "%s is not a mapping", strings.Join(keys[:i], "."))
		v, ok = m[k]
		require.Truef(t, ok, "%s is missing", strings.Join(keys[:i+1], "."))
	}
	return v
}

func resource(t *testing.T, tpl map[string]any, name string) map[string]any {
	t.Helper()
	r, ok := at(t, tpl, "Resources", name).(map[string]any)
	require.True(t, ok)
	return r
}

// statement is one IAM policy statement, with conditional (Fn::If) statements
// flattened to their true branch: the widest the policy can get.
type statement struct {
	Sid       string
	Actions   []string
	Resource  []any
	Condition any
}

// roleOf maps each function to the role the template defines for it.
var roleOf = map[string]string{"IntakeFunction": "IntakeRole", "DispatchFunction": "DispatchRole"}

// statements reads the inline policy of a function's role.
func statements(t *testing.T, tpl map[string]any, function string) []statement {
	t.Helper()
	role := resource(t, tpl, roleOf[function])
	require.Equal(t, "AWS::IAM::Role", role["Type"])
	policies, ok := at(t, role, "Properties", "Policies").([]any)
	require.True(t, ok, "Policies must be a list")
	require.Len(t, policies, 1, "one inline policy per role")
	list, ok := at(t, policies[0], "PolicyDocument", "Statement").([]any)
	require.True(t, ok)
	var out []statement
	for _, s := range list {
		m := s.(map[string]any)
		if cond, ok := m["Fn::If"].([]any); ok {
			m = cond[1].(map[string]any)
		}
		require.Equal(t, "Allow", m["Effect"])
		st := statement{Sid: m["Sid"].(string)}
		for _, a := range m["Action"].([]any) {
			st.Actions = append(st.Actions, a.(string))
		}
		st.Condition = m["Condition"]
		st.Resource, ok = m["Resource"].([]any)
		require.Truef(t, ok, "statement %s: Resource must be a list of named resources", st.Sid)
		out = append(out, st)
	}
	return out
}

func TestFunctionsAreBuiltForProvidedAL2023Arm64(t *testing.T) {
	tpl := loadTemplate(t)
	fn := at(t, tpl, "Globals", "Function")
	assert.Equal(t, "provided.al2023", at(t, fn, "Runtime"))
	assert.Equal(t, []any{"arm64"}, at(t, fn, "Architectures"))
	assert.Equal(t, "bootstrap", at(t, fn, "Handler"))
	// `devstack cost` computes GB-seconds at this memory.
	assert.Equal(t, devstack.TemplateMemoryMB, at(t, fn, "MemorySize"))
	for _, name := range []string{"IntakeFunction", "DispatchFunction"} {
		r := resource(t, tpl, name)
		assert.Equal(t, "AWS::Serverless::Function", r["Type"], name)
		assert.Equal(t, "makefile", at(t, r, "Metadata", "BuildMethod"), name)
		// One go.mod at the root: a per-function CodeUri could not see pkg/.
		assert.Equal(t, ".", at(t, r, "Properties", "CodeUri"), name)
	}
}

func TestEnvironmentFollowsTheDesign(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string][]string{
		"IntakeFunction":   {"DLQ_URL", "LEDGER_TABLE", "NOVAMED_BASE_URL", "PARAM_PREFIX", "QUEUE_URL", "STAGE"},
		"DispatchFunction": {"DLQ_URL", "LEDGER_TABLE", "MAX_RECEIVE_COUNT", "NOVAMED_500_POLICY", "NOVAMED_BASE_URL", "PARAM_PREFIX", "QUEUE_URL", "STAGE"},
	}
	for name, vars := range want {
		env := at(t, resource(t, tpl, name), "Properties", "Environment", "Variables").(map[string]any)
		var got []string
		for k, v := range env {
			got = append(got, k)
			// No secret in an environment variable: nothing may read like a key.
			assert.NotContains(t, strings.ToLower(k), "key", "%s.%s", name, k)
			assert.NotContains(t, strings.ToLower(k), "secret", "%s.%s", name, k)
			_ = v
		}
		sort.Strings(got)
		assert.Equal(t, vars, got, name)
		assert.Equal(t, map[string]any{"Fn::Sub": "/novamed-bridge/${Stage}"}, env["PARAM_PREFIX"], name)
	}
}

// TestBothFunctionsGuardTheSameTarget: intake decides whether to
// de-identify before queuing from the same URL dispatch will call.
func TestBothFunctionsGuardTheSameTarget(t *testing.T) {
	tpl := loadTemplate(t)
	env := func(name string) any {
		return at(t, resource(t, tpl, name), "Properties", "Environment", "Variables", "NOVAMED_BASE_URL")
	}
	assert.Equal(t, env("DispatchFunction"), env("IntakeFunction"))
	assert.Equal(t, map[string]any{"Fn::If": []any{"HasBaseUrlOverride", map[string]any{"Ref": "NovaMedBaseUrl"}, map[string]any{"Ref": "AWS::NoValue"}}}, env("IntakeFunction"))
}

func TestStageIsDevOrProd(t *testing.T) {
	tpl := loadTemplate(t)
	assert.Equal(t, []any{"dev", "prod"}, at(t, tpl, "Parameters", "Stage", "AllowedValues"))
	assert.Equal(t, "dev", at(t, tpl, "Parameters", "Stage", "Default"))
}

// TestLeastPrivilege pins every IAM statement of both functions: a widened
// action list or a wildcard resource fails here.
func TestLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	param := func(name string) any {
		return map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/novamed-bridge/${Stage}/" + name}
	}
	getAtt := func(res, attr string) any { return map[string]any{"Fn::GetAtt": []any{res, attr}} }
	kms := statement{Sid: "DecryptParameters", Actions: []string{"kms:Decrypt"}, Resource: []any{map[string]any{"Ref": "ParameterKmsKeyArn"}},
		Condition: map[string]any{"StringEquals": map[string]any{"kms:ViaService": map[string]any{"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}}}
	leadingKeys := func(prefixes ...string) any {
		var keys []any
		for _, p := range prefixes {
			keys = append(keys, p+"#*")
		}
		return map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": keys}}
	}
	logs := func(group string) statement {
		return statement{Sid: "WriteLogs", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []any{getAtt(group, "Arn")}}
	}
	traces := statement{Sid: "WriteTraces", Actions: []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, Resource: []any{"*"}}
	want := map[string][]statement{
		"IntakeFunction": {
			logs("IntakeLogGroup"),
			traces,
			{Sid: "ReadIntakeParameters", Actions: []string{"ssm:GetParameters"}, Resource: []any{param("clinic-id"), param("pseudonym-key")}},
			{Sid: "ReadSourceDefinitions", Actions: []string{"ssm:GetParametersByPath"}, Resource: []any{param("sources")}},
			{Sid: "QueueRecords", Actions: []string{"sqs:SendMessage"}, Resource: []any{getAtt("DeliveryQueue", "Arn")}},
			{Sid: "HoldRecords", Actions: []string{"sqs:SendMessage"}, Resource: []any{getAtt("DeadLetterQueue", "Arn")}},
			{Sid: "LedgerEvents", Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, Resource: []any{getAtt("LedgerTable", "Arn")}, Condition: leadingKeys("event")},
			kms,
		},
		"DispatchFunction": {
			logs("DispatchLogGroup"),
			traces,
			{Sid: "ReadDispatchParameters", Actions: []string{"ssm:GetParameters"}, Resource: []any{param("api-key"), param("clinic-id"), param("pseudonym-key")}},
			{Sid: "ReadSourceDefinitions", Actions: []string{"ssm:GetParametersByPath"}, Resource: []any{param("sources")}},
			{Sid: "ConsumeDeliveries", Actions: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}, Resource: []any{getAtt("DeliveryQueue", "Arn")}},
			{Sid: "DeadLetter", Actions: []string{"sqs:SendMessage"}, Resource: []any{getAtt("DeadLetterQueue", "Arn")}},
			{Sid: "LedgerRecords", Actions: []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, Resource: []any{getAtt("LedgerTable", "Arn")}, Condition: leadingKeys("record", "subject")},
			kms,
		},
	}
	for name, stmts := range want {
		got := statements(t, tpl, name)
		assert.Equal(t, stmts, got, name)
		for _, s := range got {
			for _, a := range s.Actions {
				assert.NotContains(t, a, "*", "%s %s: wildcard action", name, s.Sid)
				if !strings.HasPrefix(a, "xray:") { // X-Ray has no resource-level permissions
					assert.NotContains(t, s.Resource, "*", "%s %s: wildcard resource", name, s.Sid)
				}
			}
		}
	}
	// The intake function must not be able to read the NovaMed key.
	for _, s := range statements(t, tpl, "IntakeFunction") {
		assert.NotContains(t, s.Resource, param("api-key"))
	}
}

// TestFunctionsRunAsTheirOwnRoles: a function without Role gets a role the
// SAM transform generates, with AWS managed policies on "*"; a function with
// Policies would get one too. Each role is assumable by Lambda only and has
// no managed policy, and each function logs to its own group (the group its
// role may write).
func TestFunctionsRunAsTheirOwnRoles(t *testing.T) {
	tpl := loadTemplate(t)
	logGroupOf := map[string]string{"IntakeFunction": "IntakeLogGroup", "DispatchFunction": "DispatchLogGroup"}
	for fn, role := range roleOf {
		props := at(t, resource(t, tpl, fn), "Properties").(map[string]any)
		assert.Equal(t, map[string]any{"Fn::GetAtt": []any{role, "Arn"}}, props["Role"], fn)
		assert.NotContains(t, props, "Policies", fn)
		assert.Equal(t, map[string]any{"Ref": logGroupOf[fn]}, at(t, props, "LoggingConfig", "LogGroup"), fn)

		rp := at(t, resource(t, tpl, role), "Properties").(map[string]any)
		assert.NotContains(t, rp, "ManagedPolicyArns", role)
		assert.NotContains(t, rp, "PermissionsBoundary", role)
		assert.Equal(t, []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
		}}, at(t, rp, "AssumeRolePolicyDocument", "Statement"), role)
	}
	assert.NotContains(t, at(t, tpl, "Globals", "Function"), "Policies")
	assert.NotContains(t, at(t, tpl, "Globals", "Function"), "Role")
	// No other role, policy or managed policy anywhere in the template.
	for name, r := range at(t, tpl, "Resources").(map[string]any) {
		switch typ := r.(map[string]any)["Type"]; typ {
		case "AWS::IAM::Role":
			assert.Contains(t, []string{"IntakeRole", "DispatchRole"}, name)
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::IAM::User", "AWS::IAM::Group":
			assert.Failf(t, "unexpected IAM resource", "%s (%s)", name, typ)
		}
	}
}

func TestQueues(t *testing.T) {
	tpl := loadTemplate(t)
	q := at(t, resource(t, tpl, "DeliveryQueue"), "Properties")
	dlq := at(t, resource(t, tpl, "DeadLetterQueue"), "Properties")
	assert.Equal(t, true, at(t, q, "SqsManagedSseEnabled"))
	assert.Equal(t, true, at(t, dlq, "SqsManagedSseEnabled"))

	timeout := at(t, resource(t, tpl, "DispatchFunction"), "Properties", "Timeout").(int)
	assert.GreaterOrEqual(t, at(t, q, "VisibilityTimeout").(int), 6*timeout,
		"visibility timeout must be at least six times the dispatch timeout")

	assert.Equal(t, map[string]any{"Fn::GetAtt": []any{"DeadLetterQueue", "Arn"}}, at(t, q, "RedrivePolicy", "deadLetterTargetArn"))
	assert.Equal(t, map[string]any{"Ref": "MaxReceiveCount"}, at(t, q, "RedrivePolicy", "maxReceiveCount"))
	assert.Equal(t, 5, at(t, tpl, "Parameters", "MaxReceiveCount", "Default"))

	assert.Equal(t, 1209600, at(t, dlq, "MessageRetentionPeriod"), "14 days")
	assert.Equal(t, "byQueue", at(t, dlq, "RedriveAllowPolicy", "redrivePermission"))
	assert.Equal(t, []any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-delivery"}},
		at(t, dlq, "RedriveAllowPolicy", "sourceQueueArns"))
	assert.Equal(t, map[string]any{"Fn::Sub": "${AWS::StackName}-delivery"}, at(t, q, "QueueName"),
		"the DLQ's redrive allow policy names the delivery queue by this name")
}

func TestDispatchEventSource(t *testing.T) {
	tpl := loadTemplate(t)
	ev := at(t, resource(t, tpl, "DispatchFunction"), "Properties", "Events", "Deliveries")
	assert.Equal(t, "SQS", at(t, ev, "Type"))
	p := at(t, ev, "Properties")
	assert.Equal(t, map[string]any{"Fn::GetAtt": []any{"DeliveryQueue", "Arn"}}, at(t, p, "Queue"))
	assert.Equal(t, 10, at(t, p, "BatchSize"))
	assert.Greater(t, at(t, p, "MaximumBatchingWindowInSeconds").(int), 0)
	assert.Equal(t, []any{"ReportBatchItemFailures"}, at(t, p, "FunctionResponseTypes"))
	assert.Equal(t, map[string]any{"Ref": "DispatchMaxConcurrency"}, at(t, p, "ScalingConfig", "MaximumConcurrency"))
}

func TestWebhookRoute(t *testing.T) {
	tpl := loadTemplate(t)
	ev := at(t, resource(t, tpl, "IntakeFunction"), "Properties", "Events", "Webhook", "Properties")
	assert.Equal(t, "POST", at(t, ev, "Method"))
	assert.Equal(t, "/webhooks/{source}", at(t, ev, "Path"))
	assert.Equal(t, "2.0", at(t, ev, "PayloadFormatVersion"))

	api := at(t, resource(t, tpl, "WebhookApi"), "Properties")
	assert.Greater(t, at(t, api, "DefaultRouteSettings", "ThrottlingRateLimit").(int), 0)
	format := at(t, api, "AccessLogSettings", "Format").(string)
	for _, leak := range []string{"body", "header", "querystring", "authorizer"} {
		assert.NotContains(t, strings.ToLower(format), leak, "access logs must not hold request content")
	}
}

func TestLogGroupsHaveRetention(t *testing.T) {
	tpl := loadTemplate(t)
	for _, name := range []string{"IntakeLogGroup", "DispatchLogGroup", "ApiAccessLogGroup"} {
		assert.Equal(t, map[string]any{"Ref": "LogRetentionDays"}, at(t, resource(t, tpl, name), "Properties", "RetentionInDays"), name)
	}
}

func TestLedgerTable(t *testing.T) {
	tpl := loadTemplate(t)
	p := at(t, resource(t, tpl, "LedgerTable"), "Properties")
	assert.Equal(t, "PAY_PER_REQUEST", at(t, p, "BillingMode"))
	assert.Equal(t, true, at(t, p, "SSESpecification", "SSEEnabled"))
	assert.Equal(t, true, at(t, p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"))
	assert.Equal(t, "expires_at", at(t, p, "TimeToLiveSpecification", "AttributeName"))
	assert.Equal(t, true, at(t, p, "TimeToLiveSpecification", "Enabled"))
}

func TestAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	cases := []struct {
		resource, namespace, metric string
	}{
		{"DeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"},
		{"DispatchUnauthorizedAlarm", "NovaMedBridge", "Unauthorized"},
		{"OldestMessageAlarm", "AWS/SQS", "ApproximateAgeOfOldestMessage"},
	}
	for _, c := range cases {
		r := resource(t, tpl, c.resource)
		assert.Equal(t, "AWS::CloudWatch::Alarm", r["Type"], c.resource)
		assert.Equal(t, c.namespace, at(t, r, "Properties", "Namespace"), c.resource)
		assert.Equal(t, c.metric, at(t, r, "Properties", "MetricName"), c.resource)
	}
	assert.Equal(t, map[string]any{"Fn::GetAtt": []any{"DeadLetterQueue", "QueueName"}},
		at(t, resource(t, tpl, "DeadLetterQueueAlarm"), "Properties", "Dimensions").([]any)[0].(map[string]any)["Value"])
}

func TestOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	for _, name := range []string{"WebhookUrl", "QueueUrl", "DeadLetterQueueUrl", "DashboardUrl"} {
		at(t, tpl, "Outputs", name, "Value")
	}
}
