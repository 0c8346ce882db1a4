package devstack

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The soak's report: what it measured, the invariants it checks, and the
// throughput goal it reports.

// SoakReport is what a soak measured and checked.
type SoakReport struct {
	Webhooks, Repeats, Duplicates, Refused               int
	Accepted, Delivered, Held, DeadLettered, Unconfirmed int
	SecondCharts, SandboxCanaries, LogCanaries, Killed   int
	// KilledMidBatch counts the dispatch invocations that a kill cut short
	// (the emulator answered them with the runtime's exit): proof the kill
	// landed inside a batch, not between two.
	KilledMidBatch int
	// KillAsked says the soak was to kill a dispatch instance mid-batch:
	// the report is OK only if one was.
	KillAsked bool
	// Instances is how many execution environments each function ran in.
	Instances int
	// Notifications counts the id-only notifications sent (their records
	// are fetched from the EHR sandbox); EHRFetches the Patient reads.
	Notifications, EHRFetches int
	DeadLetterClasses         map[string]int
	P50, P99, Duration        time.Duration
	// Sending is how long the senders took to have every webhook answered,
	// SendingCPU the processor time the stack spent meanwhile (dispatch
	// draining the queue included).
	Sending    time.Duration
	SendingCPU CPUTimes
	// Timed is the number of webhooks of the timed run (Webhooks less the
	// baseline's).
	Timed            int
	RecordsPerSecond float64
	Balanced         bool
	// Cores is how many processors the machine offered the stack
	// (GOMAXPROCS: the cores, or a container's CPU limit).
	Cores int
}

// GoalPerSecond is the throughput the bridge's load test aims for:
// webhooks answered per second through the local stack.
const GoalPerSecond = 1000

// PerSecond is the webhooks answered per second of the timed run.
func (r SoakReport) PerSecond() float64 {
	if r.Sending <= 0 {
		return 0
	}
	return float64(r.Timed) / r.Sending.Seconds()
}

// Ceiling is the most webhooks per second the machine's cores allow at the
// processor time each webhook took: what more instances cannot pass.
func (r SoakReport) Ceiling() float64 {
	per := r.SendingCPU.Total().Seconds() / float64(max(r.Timed, 1))
	if per <= 0 || r.Cores <= 0 {
		return 0
	}
	return float64(r.Cores) / per
}

// goalLine says whether the run met GoalPerSecond and, if it did not,
// the Ceiling its processor time per webhook sets and the processor time
// per webhook the goal needs.
func (r SoakReport) goalLine() string {
	got := r.PerSecond()
	if got >= GoalPerSecond {
		return fmt.Sprintf("goal %d webhooks/s: reached (%.0f/s)", GoalPerSecond, got)
	}
	ceiling := r.Ceiling()
	if ceiling <= 0 {
		return fmt.Sprintf("goal %d webhooks/s: not reached (%.0f/s)", GoalPerSecond, got)
	}
	need := time.Duration(float64(r.Cores) / GoalPerSecond * float64(time.Second))
	return fmt.Sprintf("goal %d webhooks/s: not reached (%.0f/s); %d core(s) at this processor time per webhook allow at most %.0f/s, %d/s needs at most %.2f ms",
		GoalPerSecond, got, r.Cores, ceiling, GoalPerSecond, float64(need)/float64(time.Millisecond))
}

// OK reports whether the soak's invariants hold: every accepted record
// has one outcome, no person has a second chart, no canary reached the
// Development sandbox or a log line, and an asked-for kill landed inside a
// batch.
func (r SoakReport) OK() bool {
	return r.Balanced && r.SecondCharts == 0 && r.SandboxCanaries == 0 && r.LogCanaries == 0 && r.Refused == 0 &&
		(!r.KillAsked || r.KilledMidBatch > 0)
}

// Print writes the report.
func (r SoakReport) Print(w io.Writer) {
	fmt.Fprintf(w, "webhooks %d (repeats %d, answered duplicate %d, refused %d, id-only notifications %d: %d Patient reads from the EHR)\n",
		r.Webhooks, r.Repeats, r.Duplicates, r.Refused, r.Notifications, r.EHRFetches)
	fmt.Fprintf(w, "each function in %d instance(s); dispatch killed %d time(s), %d batch(es) cut mid-run\n",
		r.Instances, r.Killed, r.KilledMidBatch)
	fmt.Fprintf(w, "accepted %d = delivered %d + held %d + dead-lettered %d + unconfirmed %d: %v\n",
		r.Accepted, r.Delivered, r.Held, r.DeadLettered, r.Unconfirmed, r.Balanced)
	classes := make([]string, 0, len(r.DeadLetterClasses))
	for c := range r.DeadLetterClasses {
		classes = append(classes, fmt.Sprintf("%s %d", c, r.DeadLetterClasses[c]))
	}
	slices.Sort(classes)
	fmt.Fprintf(w, "dead letters by class: %s\n", strings.Join(classes, ", "))
	fmt.Fprintf(w, "second charts at the sandbox %d, canaries at the Development sandbox %d, in log lines %d\n",
		r.SecondCharts, r.SandboxCanaries, r.LogCanaries)
	fmt.Fprintf(w, "intake latency p50 %v p99 %v; webhooks answered in %v (%.0f/s); %.0f records/s end to end; duration %v\n",
		r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Sending.Round(time.Millisecond),
		r.PerSecond(), r.RecordsPerSecond, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "processor time per webhook while sending: %s\n", r.SendingCPU.PerUnit(r.Timed))
	if r.Sending > 0 { // the senders ran to the end
		fmt.Fprintln(w, r.goalLine())
	}
}
