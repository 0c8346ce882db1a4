package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// CPU time by part of the local stack, read from /proc: what a soak's
// webhooks cost in processor time, which (unlike webhooks per second) a
// shared machine's other jobs do not change much. Linux only; elsewhere the
// readings are zero.

// clockTick is the unit of /proc/<pid>/stat's utime and stime (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// CPUTimes is processor time (user + system) by part.
type CPUTimes struct {
	Stack                         time.Duration // this process: kumo, the sandboxes, the front, the pollers, the senders
	IntakeRIE, IntakeFunction     time.Duration
	DispatchRIE, DispatchFunction time.Duration
}

// Total is the sum of the parts.
func (c CPUTimes) Total() time.Duration {
	return c.Stack + c.IntakeRIE + c.IntakeFunction + c.DispatchRIE + c.DispatchFunction
}

// Sub is c minus an earlier reading.
func (c CPUTimes) Sub(o CPUTimes) CPUTimes {
	return CPUTimes{
		Stack: c.Stack - o.Stack, IntakeRIE: c.IntakeRIE - o.IntakeRIE, IntakeFunction: c.IntakeFunction - o.IntakeFunction,
		DispatchRIE: c.DispatchRIE - o.DispatchRIE, DispatchFunction: c.DispatchFunction - o.DispatchFunction,
	}
}

// String shows each part per unit (a webhook, say) in milliseconds.
func (c CPUTimes) PerUnit(n int) string {
	if n <= 0 {
		return "-"
	}
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond)/float64(n), 'f', 2, 64)
	}
	return fmt.Sprintf("%s ms (stack process %s, intake RIE %s + function %s, dispatch RIE %s + function %s)",
		ms(c.Total()), ms(c.Stack), ms(c.IntakeRIE), ms(c.IntakeFunction), ms(c.DispatchRIE), ms(c.DispatchFunction))
}

// CPU reads the stack's processor time so far, a killed bootstrap's
// included (Pool.cpu).
func (s *Stack) CPU() CPUTimes {
	var c CPUTimes
	c.Stack, _ = procCPU(os.Getpid())
	c.IntakeRIE, c.IntakeFunction = s.Intake.cpu()
	c.DispatchRIE, c.DispatchFunction = s.Dispatch.cpu()
	return c
}

// cpu is the pool's emulators' and bootstraps' processor time. A bootstrap
// that is gone (killed, and restarted by its emulator) counts too: its
// time is among the emulator's reaped children's.
func (p *Pool) cpu() (rie, fn time.Duration) {
	for _, f := range p.all {
		if f.cmd.Process == nil {
			continue
		}
		self, reaped := procCPU(f.cmd.Process.Pid)
		rie += self
		fn += reaped
		for _, child := range childPIDs(f.cmd.Process.Pid) {
			own, _ := procCPU(child)
			fn += own
		}
	}
	return rie, fn
}

// procCPU is a process's user + system time, and that of its children it
// has waited for; zero if it cannot be read.
func procCPU(pid int) (self, reaped time.Duration) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(data[i+1:]))
	// After ')': state is field 3, so utime, stime, cutime and cstime
	// (fields 14-17) are f[11] to f[14].
	if len(f) < 15 {
		return 0, 0
	}
	n := func(s string) time.Duration {
		v, _ := strconv.ParseInt(s, 10, 64)
		return time.Duration(v) * clockTick
	}
	return n(f[11]) + n(f[12]), n(f[13]) + n(f[14])
}

// childPIDs lists a process's children.
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(field); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	return out
}

// startCPUProfile writes this process's CPU profile to path until the
// returned stop is called: where the stack process's share of a soak goes
// (`devstack soak -cpuprofile`, read with `go tool pprof`).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
