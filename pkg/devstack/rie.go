package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Function is one built bootstrap binary running under the AWS Lambda Runtime
// Interface Emulator, the emulator `sam local` uses: the same runtime API,
// the same event JSON, the same process model as Lambda.
type Function struct {
	Name string

	cmd       *exec.Cmd
	invokeURL string
	client    *http.Client
	// The emulator runs one invocation at a time, as one Lambda execution
	// environment does; callers queue here.
	mu   sync.Mutex
	done chan struct{}
	// killed is set by killBootstrap and taken by the invocation it cut.
	killed atomic.Bool
}

// FunctionConfig says how to start a Function.
type FunctionConfig struct {
	Name      string
	RIE       string   // path of the aws-lambda-rie binary
	Bootstrap string   // path of the function's bootstrap binary
	Env       []string // the function's environment, KEY=value
	Timeout   time.Duration
	Logs      io.Writer // where the function's (and the emulator's) output goes
}

// ErrFunction is returned when the handler itself failed: the emulator
// answers 200 with an errorMessage body, so the body is what tells.
var ErrFunction = errors.New("devstack: function returned an error")

// StartFunction starts the emulator with the bootstrap on free loopback ports
// and waits until it accepts invocations.
func StartFunction(ctx context.Context, cfg FunctionConfig) (*Function, error) {
	rieAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	cmd := exec.Command(cfg.RIE,
		"--runtime-interface-emulator-address", rieAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "error",
		cfg.Bootstrap)
	// A new slice: cfg.Env is shared by the functions of one stack.
	cmd.Env = slices.Concat(cfg.Env, []string{
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(timeout.Seconds())),
		"AWS_LAMBDA_FUNCTION_NAME=" + cfg.Name,
	})
	cmd.Stdout = cfg.Logs
	cmd.Stderr = cfg.Logs
	// Its own process group, so Close stops the emulator and the bootstrap
	// it started together, whatever state they are in.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devstack: start %s: %w", cfg.Name, err)
	}
	f := &Function{
		Name:      cfg.Name,
		cmd:       cmd,
		invokeURL: "http://" + rieAddr + "/2015-03-31/functions/function/invocations",
		client:    &http.Client{Timeout: timeout + 5*time.Second},
		done:      make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(f.done) }()
	if err := waitListening(ctx, rieAddr, f.done); err != nil {
		f.Close()
		return nil, fmt.Errorf("devstack: %s did not start: %w", cfg.Name, err)
	}
	return f, nil
}

// Invoke sends one event and returns the handler's response payload.
func (f *Function) Invoke(ctx context.Context, event any) ([]byte, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.invokeURL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devstack: invoke %s: %w", f.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return nil, err
	}
	var failure struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %d", ErrFunction, f.Name, resp.StatusCode)
	}
	if json.Unmarshal(body, &failure) == nil && (failure.ErrorMessage != "" || failure.ErrorType != "") {
		return nil, fmt.Errorf("%w: %s: %s", ErrFunction, f.Name, failure.ErrorType)
	}
	return body, nil
}

// Close stops the emulator and the function.
func (f *Function) Close() {
	if f.cmd.Process != nil {
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-f.done
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out")
}

// Pool is one function's execution environments. Lambda runs a function in
// as many environments as it has invocations in flight, each environment one
// invocation at a time; a Pool runs n emulators and hands each invocation to
// a free one, waiting (as Lambda does at its concurrency limit) when none is.
// One emulator alone serialises every invocation, which caps a local stack
// at what one process answers in sequence.
type Pool struct {
	Name string

	all  []*Function
	free chan *Function
	mu   sync.Mutex
	busy map[*Function]bool
	// cut counts the invocations a KillBusy ended.
	cut atomic.Int64
}

// StartPool starts n instances of the function (at least one), in parallel.
func StartPool(ctx context.Context, cfg FunctionConfig, n int) (*Pool, error) {
	n = max(n, 1)
	p := &Pool{Name: cfg.Name, all: make([]*Function, n), free: make(chan *Function, n), busy: map[*Function]bool{}}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { p.all[i], errs[i] = StartFunction(ctx, cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		p.Close()
		return nil, err
	}
	for _, f := range p.all {
		p.free <- f
	}
	return p, nil
}

// Instances is the number of execution environments.
func (p *Pool) Instances() int { return len(p.all) }

// Invoke runs the event on a free instance, waiting for one if all are busy.
func (p *Pool) Invoke(ctx context.Context, event any) ([]byte, error) {
	var f *Function
	select {
	case f = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	p.busy[f] = true
	p.mu.Unlock()
	out, err := f.Invoke(ctx, event)
	p.mu.Lock()
	delete(p.busy, f)
	if f.killed.Swap(false) && err != nil {
		p.cut.Add(1)
	}
	p.mu.Unlock()
	p.free <- f
	return out, err
}

// KilledMidInvoke is the number of invocations a KillBusy cut short: they
// were running when their bootstrap was killed and ended in an error.
func (p *Pool) KilledMidInvoke() int { return int(p.cut.Load()) }

// KillBusy SIGKILLs the bootstrap of one instance that is running an
// invocation now (an execution environment dying mid-batch; its emulator
// starts a new bootstrap for the next invocation). It reports false when
// no instance was busy or the kill found no process.
func (p *Pool) KillBusy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for f := range p.busy {
		if f.killBootstrap() {
			return true
		}
	}
	return false
}

// Close stops every instance.
func (p *Pool) Close() {
	for _, f := range p.all {
		if f != nil {
			f.Close()
		}
	}
}

// killBootstrap SIGKILLs the bootstrap process the emulator runs for f
// (not the emulator itself).
func (f *Function) killBootstrap() bool {
	if f.cmd.Process == nil {
		return false
	}
	killed := false
	for _, pid := range childPIDs(f.cmd.Process.Pid) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = true
		}
	}
	if killed {
		f.killed.Store(true)
	}
	return killed
}
