package stackcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// installHint says how to get what the transformed-template checks need.
const installHint = "these checks run the SAM transform: install python3 and `pip install cfn-lint` " +
	"(cfn-lint ships aws-sam-translator, the samtranslator package); CI has both"

// transformed runs transform.py on template.yaml and returns the
// CloudFormation template SAM would deploy. There is deliberately no skip:
// without the transform the deployed IAM is unchecked, so a machine without
// it fails with the install hint.
func transformed(t *testing.T) map[string]any {
	t.Helper()
	python, err := exec.LookPath("python3")
	require.NoError(t, err, installHint)
	cmd := exec.Command(python, "transform.py", "../../template.yaml")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			require.FailNow(t, "samtranslator is missing", "%s\n%s", stderr.String(), installHint)
		}
		require.FailNow(t, "the SAM transform failed", "%v\n%s", err, stderr.String())
	}
	var tpl map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &tpl))
	return tpl
}

// wildcardServices are the services whose actions must always name their
// resources: a "*" there reaches every queue, table, parameter or key of the
// account (another stage's PHI included). X-Ray has no resource-level
// permissions, so it is the one service allowed "*".
var wildcardServices = []string{"sqs", "dynamodb", "ssm", "kms", "logs"}

// iamProblems lists what is wrong with the IAM of a transformed template:
// any managed policy attached to a role (its statements are not in the
// template and the AWS ones use "*"), a NotAction or NotResource, and any
// statement granting an action of wildcardServices on a wildcard resource.
// Conditional statements (Fn::If) are checked in both branches.
func iamProblems(tpl map[string]any) []string {
	var problems []string
	resources, _ := tpl["Resources"].(map[string]any)
	names := make([]string, 0, len(resources))
	for name := range resources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		res, _ := resources[name].(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		var docs []any
		switch res["Type"] {
		case "AWS::IAM::Role":
			if arns, ok := props["ManagedPolicyArns"]; ok {
				problems = append(problems, name+": managed policies attached: "+jsonText(arns))
			}
			policies, _ := props["Policies"].([]any)
			for _, p := range policies {
				if pm, ok := p.(map[string]any); ok {
					docs = append(docs, pm["PolicyDocument"])
				}
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
			docs = append(docs, props["PolicyDocument"])
		default:
			continue
		}
		for _, doc := range docs {
			dm, _ := doc.(map[string]any)
			for _, st := range branches(dm["Statement"]) {
				problems = append(problems, statementProblems(name, st)...)
			}
		}
	}
	return problems
}

func statementProblems(owner string, st map[string]any) []string {
	label := owner
	if sid, ok := st["Sid"].(string); ok {
		label += " " + sid
	}
	var problems []string
	for _, key := range []string{"NotAction", "NotResource"} {
		if _, ok := st[key]; ok {
			problems = append(problems, label+": "+key+" grants everything not listed")
		}
	}
	if st["Effect"] != "Allow" {
		return problems
	}
	wild := false
	for _, r := range strings1(st["Resource"]) {
		if r == "*" || strings.HasSuffix(r, ":*") && strings.Count(r, ":") < 5 {
			wild = true
		}
	}
	if !wild {
		return problems
	}
	for _, a := range strings1(st["Action"]) {
		service, _, _ := strings.Cut(strings.ToLower(a), ":")
		for _, s := range wildcardServices {
			if service == s || service == "*" {
				problems = append(problems, label+": "+a+" on every resource")
			}
		}
	}
	return problems
}

// branches flattens a statement list (or one statement) into statements,
// taking both branches of every Fn::If and dropping AWS::NoValue.
func branches(v any) []map[string]any {
	switch v := v.(type) {
	case []any:
		var out []map[string]any
		for _, e := range v {
			out = append(out, branches(e)...)
		}
		return out
	case map[string]any:
		if cond, ok := v["Fn::If"].([]any); ok && len(cond) == 3 {
			return append(branches(cond[1]), branches(cond[2])...)
		}
		if ref, ok := v["Ref"]; ok && ref == "AWS::NoValue" {
			return nil
		}
		return []map[string]any{v}
	}
	return nil
}

// strings1 reads an IAM Action or Resource: one string or a list. An
// intrinsic function (a GetAtt, a Sub) is kept as its JSON text, which is
// never "*".
func strings1(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, strings1(e)...)
		}
		return out
	case nil:
		return nil
	default:
		return []string{jsonText(v)}
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// TestTransformedTemplateGrantsNoWildcardIAM is the check of issue 14 item 1:
// what SAM deploys, not only what the template says. Before each function had
// its own role, the transform gave dispatch AWSLambdaSQSQueueExecutionRole
// (every queue of the account) and this failed.
func TestTransformedTemplateGrantsNoWildcardIAM(t *testing.T) {
	tpl := transformed(t)
	assert.Empty(t, iamProblems(tpl))

	// Every function runs as the role the template defines for it, so no
	// role the transform generates can carry policies of its own.
	roles := map[string]string{"IntakeFunction": "IntakeRole", "DispatchFunction": "DispatchRole"}
	resources := tpl["Resources"].(map[string]any)
	var functions []string
	for name, r := range resources {
		res := r.(map[string]any)
		switch res["Type"] {
		case "AWS::Lambda::Function":
			functions = append(functions, name)
			role := res["Properties"].(map[string]any)["Role"]
			assert.Equal(t, map[string]any{"Fn::GetAtt": []any{roles[name], "Arn"}}, role, name)
		case "AWS::IAM::Role":
			assert.Contains(t, []string{"IntakeRole", "DispatchRole"}, name, "a role the template does not define")
		}
	}
	sort.Strings(functions)
	assert.Equal(t, []string{"DispatchFunction", "IntakeFunction"}, functions)
}

// TestIAMProblemsFindsWhatTheTransformUsedToAdd feeds the checker the role
// SAM generated for dispatch before the fix (managed SQS policy) and
// statements that must be refused, so the check above cannot pass vacuously.
func TestIAMProblemsFindsWhatTheTransformUsedToAdd(t *testing.T) {
	tpl := map[string]any{"Resources": map[string]any{
		"DispatchFunctionRole": map[string]any{
			"Type": "AWS::IAM::Role",
			"Properties": map[string]any{
				"ManagedPolicyArns": []any{"arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"},
				"Policies": []any{map[string]any{"PolicyName": "p", "PolicyDocument": map[string]any{"Statement": []any{
					map[string]any{"Sid": "Traces", "Effect": "Allow", "Action": []any{"xray:PutTraceSegments"}, "Resource": "*"},
					map[string]any{"Sid": "Named", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}}},
					map[string]any{"Fn::If": []any{"C",
						map[string]any{"Sid": "Keys", "Effect": "Allow", "Action": []any{"kms:Decrypt"}, "Resource": []any{"*"}},
						map[string]any{"Ref": "AWS::NoValue"}}},
					map[string]any{"Sid": "Region", "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "arn:aws:ssm:*"},
					map[string]any{"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"},
				}}}},
			},
		},
		"Extra": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{"PolicyDocument": map[string]any{
			"Statement": map[string]any{"Effect": "Allow", "Action": "DynamoDB:GetItem", "Resource": "*"}}}},
	}}
	assert.Equal(t, []string{
		`DispatchFunctionRole: managed policies attached: ["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]`,
		"DispatchFunctionRole Keys: kms:Decrypt on every resource",
		"DispatchFunctionRole Region: ssm:GetParameters on every resource",
		"DispatchFunctionRole Not: NotAction grants everything not listed",
		"Extra: DynamoDB:GetItem on every resource",
	}, iamProblems(tpl))
}
