package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"gopkg.in/yaml.v3"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/samples"
)

// The functions `sam local invoke` knows, by template.yaml logical id.
const (
	IntakeFunction   = "IntakeFunction"
	DispatchFunction = "DispatchFunction"
)

// InvokeOptions configure Invoke.
type InvokeOptions struct {
	Root     string // the module root
	Function string // IntakeFunction or DispatchFunction
	Event    string // the event file
	// EnvVars is a file in `sam local invoke --env-vars` format:
	// {"Parameters": {...}, "IntakeFunction": {"VAR": "value"}}.
	EnvVars string
	// RIE skips sam even where sam and Docker are present.
	RIE  bool
	Out  io.Writer // the function's answer
	Logs io.Writer // progress and the function's logs
}

// Invoke runs one event through a function as `sam local invoke` does. An
// intake sample (events/intake/<template>.json) is first signed afresh
// into a temporary copy: Standard Webhooks signatures last five minutes,
// and the committed file stays as it is. With sam and a working Docker
// engine it calls sam. Without them it runs the same bootstrap under the
// Lambda Runtime Interface Emulator (the emulator inside sam's image) with
// the environment sam would give: template.yaml's variables for the
// function, overridden by EnvVars. Without EnvVars, the variables point at
// a local stack started for the call (kumo with the samples' sources and
// parameters, the NovaMed sandbox), so the function really works.
func Invoke(ctx context.Context, o InvokeOptions) error {
	if o.Function != IntakeFunction && o.Function != DispatchFunction {
		return fmt.Errorf("%w %q (want %s or %s)", ErrNoFunction, o.Function, IntakeFunction, DispatchFunction)
	}
	dir, err := os.MkdirTemp("", "novamed-bridge-invoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	event, err := invokeEvent(o, dir)
	if err != nil {
		return err
	}
	if !o.RIE && samWithDocker(ctx) {
		return samInvoke(ctx, o, event)
	}
	fmt.Fprintf(o.Logs, "== sam or a running Docker engine not found: %s's bootstrap under the Lambda RIE (go tool aws-lambda-rie)\n", o.Function)
	// What the processes say while they are stopped, after the answer, is
	// no part of the invocation's logs.
	logs := &gate{w: o.Logs}
	defer logs.shut()
	o.Logs = logs
	payload, err := os.ReadFile(event)
	if err != nil {
		return err
	}
	var answer []byte
	if o.EnvVars == "" {
		answer, err = invokeOnStack(ctx, o, dir, payload)
	} else {
		answer, err = invokeWithEnvVars(ctx, o, dir, payload)
	}
	logs.shut()
	if answer != nil {
		fmt.Fprintf(o.Out, "%s\n", answer)
	}
	return err
}

// gate passes writes through until shut.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// invokeEvent returns the event file to send: a freshly signed temporary
// copy for an intake sample, the file itself otherwise.
func invokeEvent(o InvokeOptions, dir string) (string, error) {
	if o.Function != IntakeFunction {
		return o.Event, nil
	}
	ts, err := samples.Templates()
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(filepath.Base(o.Event), ".json")
	for _, t := range ts {
		if t.Name != name {
			continue
		}
		sources, err := LoadLocalSources(o.Root)
		if err != nil {
			return "", err
		}
		ev, err := t.Event(sources, time.Now())
		if err != nil {
			return "", err
		}
		b, err := samples.EncodeEvent(ev)
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, name+".json")
		fmt.Fprintf(o.Logs, "== %s signed afresh into %s (the committed file is unchanged)\n", filepath.Base(o.Event), path)
		return path, os.WriteFile(path, b, 0o600)
	}
	return o.Event, nil
}

// samWithDocker reports whether sam is installed and Docker answers.
func samWithDocker(ctx context.Context) bool {
	if _, err := exec.LookPath("sam"); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}

func samInvoke(ctx context.Context, o InvokeOptions, event string) error {
	args := []string{"local", "invoke", o.Function, "-e", event}
	if o.EnvVars != "" {
		args = append(args, "--env-vars", o.EnvVars)
	}
	for _, argv := range [][]string{{"build"}, args} {
		cmd := exec.CommandContext(ctx, "sam", argv...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = o.Root, o.Out, o.Logs
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("devstack: sam %s: %w", argv[0], err)
		}
	}
	return nil
}

// invokeOnStack starts the local stack and sends the event to its copy of
// the function, which runs with the stack's environment.
func invokeOnStack(ctx context.Context, o InvokeOptions, dir string, payload []byte) ([]byte, error) {
	stack, _, _, err := startWithSamples(ctx, o.Root, dir, o.Logs, Options{Name: "invoke-" + RandomName(), Logs: o.Logs})
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	fn := stack.Intake
	if o.Function == DispatchFunction {
		fn = stack.Dispatch
	}
	fmt.Fprintf(o.Logs, "== invoking %s (logs follow, then its answer)\n", o.Function)
	return fn.Invoke(ctx, json.RawMessage(payload))
}

// invokeWithEnvVars runs the function alone with template.yaml's
// environment overridden by the env-vars file, and the AWS settings of
// this shell, as sam passes them: credentials from a profile or SSO are
// resolved here (shellCredentials), since the bootstraps read only the
// environment.
func invokeWithEnvVars(ctx context.Context, o InvokeOptions, dir string, payload []byte) ([]byte, error) {
	vars, err := TemplateEnv(filepath.Join(o.Root, "template.yaml"), o.Function)
	if err != nil {
		return nil, err
	}
	file, err := readEnvVars(o.EnvVars, o.Function)
	if err != nil {
		return nil, err
	}
	for k, v := range file {
		vars[k] = v
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	set := func(name string) bool { return vars[name] != "" || os.Getenv(name) != "" }
	if !set("AWS_ACCESS_KEY_ID") || !(set("AWS_REGION") || set("AWS_DEFAULT_REGION")) {
		env = append(env, shellCredentials(ctx, o.Logs)...)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	fmt.Fprintln(o.Logs, "== building (the first build compiles the AWS SDK and takes a few minutes)")
	bins, err := Build(ctx, dir, prefixWriter(o.Logs, "   "))
	if err != nil {
		return nil, err
	}
	bootstrap, name, timeout := bins.Intake, "intake", 10*time.Second
	if o.Function == DispatchFunction {
		bootstrap, name, timeout = bins.Dispatch, "dispatch", 30*time.Second
	}
	fn, err := StartFunction(ctx, FunctionConfig{Name: name, RIE: bins.RIE, Bootstrap: bootstrap, Env: env, Timeout: timeout, Logs: o.Logs})
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	fmt.Fprintf(o.Logs, "== invoking %s with %s (logs follow, then its answer)\n", o.Function, o.EnvVars)
	return fn.Invoke(ctx, json.RawMessage(payload))
}

// readEnvVars reads a `sam local invoke --env-vars` file: the
// "Parameters" object applies to every function, the function's own object
// overrides it.
func readEnvVars(path, function string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("devstack: %s is not an env-vars file ({\"%s\": {\"VAR\": \"value\"}}): %w", path, function, err)
	}
	out := map[string]string{}
	for _, section := range []string{"Parameters", function} {
		for k, v := range file[section] {
			out[k] = v
		}
	}
	return out, nil
}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// TemplateEnv returns the environment variables template.yaml declares for
// a function, resolved as far as the template alone allows: plain values,
// !Ref to a parameter (its default) and !Sub over parameters. Variables
// naming a resource (a queue URL, a table) or a condition are left out, as
// sam leaves them for --env-vars to give.
func TemplateEnv(path, function string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tpl struct {
		Parameters map[string]struct {
			Default yaml.Node `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Properties struct {
				Environment struct {
					Variables map[string]yaml.Node `yaml:"Variables"`
				} `yaml:"Environment"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		return nil, fmt.Errorf("devstack: %s: %w", path, err)
	}
	res, ok := tpl.Resources[function]
	if !ok {
		return nil, fmt.Errorf("devstack: %s has no resource %s", path, function)
	}
	param := func(name string) (string, bool) {
		p, ok := tpl.Parameters[name]
		if !ok || p.Default.Kind != yaml.ScalarNode {
			return "", false
		}
		return p.Default.Value, true
	}
	out := map[string]string{}
	for k, n := range res.Properties.Environment.Variables {
		if n.Kind != yaml.ScalarNode {
			continue
		}
		switch n.Tag {
		case "!Ref":
			if v, ok := param(n.Value); ok {
				out[k] = v
			}
		case "!Sub":
			resolved := true
			v := subRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				p, ok := param(m[2 : len(m)-1])
				resolved = resolved && ok
				return p
			})
			if resolved {
				out[k] = v
			}
		default:
			if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
				out[k] = n.Value
			}
		}
	}
	return out, nil
}

// ErrNoFunction is returned for an unknown function name.
var ErrNoFunction = errors.New("devstack: unknown function")

// shellCredentials resolves this shell's credentials and region with the
// SDK's whole chain (profile, SSO, assumed role), as sam does before it
// starts a function, and returns them as the variables Lambda sets: the
// bootstraps read only those (awsclients.FromEnv). When nothing resolves
// it says so and returns what it has; the bootstrap then names the missing
// variable at start. Nothing it returns is printed.
func shellCredentials(ctx context.Context, logs io.Writer) []string {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintf(logs, "== no AWS configuration in this shell: %v\n", err)
		return nil
	}
	var env []string
	if cfg.Region != "" {
		env = append(env, "AWS_REGION="+cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fmt.Fprintf(logs, "== no AWS credentials in this shell (%s)\n", awsclients.ErrorCode(err))
		return env
	}
	env = append(env, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey)
	if creds.SessionToken != "" {
		env = append(env, "AWS_SESSION_TOKEN="+creds.SessionToken)
	}
	return env
}
