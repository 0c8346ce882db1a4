package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// SoakOptions shape a soak (issue 17, "Load"): N signed webhooks from
// Concurrency senders mixing every accepted sample, RepeatPct of them
// byte-for-byte repeats of an earlier one, while the NovaMed sandbox fails
// FailPct of its calls (503, 429 and 500 in turn), answers after Latency
// and loses DropAfterCreate answers after creating the record; with Kill,
// the dispatch bootstrap is killed once in the middle of a batch.
type SoakOptions struct {
	N, Concurrency int
	RepeatPct      int
	// HeldPct of the webhooks (not counting repeats) carry a record that
	// intake holds.
	HeldPct         int
	FailPct         int
	Latency         time.Duration
	DropAfterCreate int
	Kill            bool
	Seed            uint64
	// Drain bounds the wait for the queue to empty after the last webhook
	// (a killed dispatch leaves its claims for the ledger lease, 2 min).
	Drain time.Duration
}

// canaryWriter counts the log lines holding a canary, case-insensitively,
// without keeping the logs.
type canaryWriter struct {
	mu       sync.Mutex
	canaries []string
	partial  []byte
	hits     int
	tee      io.Writer // also gets the logs (devstack soak -logs)
}

func (c *canaryWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tee != nil {
		_, _ = c.tee.Write(p)
	}
	c.partial = append(c.partial, p...)
	for {
		i := slices.Index(c.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.ToLower(string(c.partial[:i]))
		for _, can := range c.canaries {
			if containsToken(line, can) {
				c.hits++
				break
			}
		}
		c.partial = c.partial[i+1:]
	}
}

// containsToken reports whether can occurs in line not inside a longer run
// of letters and digits, and not as a TCP port (logtest.PortAt): a
// five-digit canary (a ZIP code) inside a nanosecond timestamp or after
// "127.0.0.1:" is not a leak; the value in a JSON string is.
func containsToken(line, can string) bool {
	for from := 0; ; {
		i := strings.Index(line[from:], can)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(can)
		if (i == 0 || !isAlnum(line[i-1])) && (end == len(line) || !isAlnum(line[end])) && !logtest.PortAt(line, i) {
			return true
		}
		from = i + 1
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Soak runs a soak against a running stack. logs must be the stack's
// Options.Logs, a *canaryWriter from NewSoakLogs.
func Soak(ctx context.Context, s *Stack, logs io.Writer, sources []samples.Source, templates []samples.Template, o SoakOptions) (SoakReport, error) {
	cw, ok := logs.(*canaryWriter)
	if !ok {
		return SoakReport{}, errors.New("soak: the stack's logs must come from NewSoakLogs")
	}
	var accepted []samples.Template
	for _, t := range templates {
		if t.Expect.Status == http.StatusAccepted {
			accepted = append(accepted, t)
		}
	}
	if len(accepted) == 0 || o.N <= 0 || o.Concurrency <= 0 {
		return SoakReport{}, errors.New("soak: nothing to send")
	}
	rep := SoakReport{DeadLetterClasses: map[string]int{}}
	// Every accepted sample once, without faults: several samples carry the
	// same person from different sources (a subject is scoped to its
	// source), so the charts they make are the baseline a second chart is
	// counted against.
	first := map[string]events.APIGatewayV2HTTPRequest{}
	for i, t := range accepted {
		ev, err := soakEvent(s, t, sources, -1-i, 0)
		if err != nil {
			return rep, err
		}
		first[t.Name] = ev
		status, body, _, err := sendRetrying(ctx, s, ev)
		if err != nil {
			return rep, err
		}
		if status != http.StatusAccepted {
			rep.Refused++
			continue
		}
		rep.Webhooks++
		rep.Accepted += acceptedRecords(body, &rep)
	}
	if err := s.WaitDrained(ctx, time.Minute); err != nil {
		return rep, err
	}
	baseline := s.Sandbox.Duplicates()

	rng := rand.New(rand.NewPCG(o.Seed, 1))
	var held *samples.Template
	var others []samples.Template
	for _, t := range accepted {
		if len(t.Expect.Held) > 0 && held == nil {
			held = &t
			continue
		}
		others = append(others, t)
	}
	evs := make([]events.APIGatewayV2HTTPRequest, o.N)
	repeats := 0
	occurrences := map[string]int{}
	for i := range evs {
		if i > 0 && rng.IntN(100) < o.RepeatPct {
			evs[i] = evs[rng.IntN(i)]
			repeats++
			continue
		}
		// HeldPct of the webhooks carry a held record; the rest cycle
		// through every other accepted sample.
		var t samples.Template
		if held != nil && rng.IntN(100) < o.HeldPct {
			t = *held
		} else {
			t = others[occurrences["others"]%len(others)]
			occurrences["others"]++
		}
		if subjectless[t.Name] {
			evs[i] = first[t.Name] // the sender's retry of it
			continue
		}
		if t.Name == notificationSample {
			rep.Notifications++
		}
		ev, err := soakEvent(s, t, sources, i, occurrences[t.Name])
		if err != nil {
			return SoakReport{}, err
		}
		occurrences[t.Name]++
		evs[i] = ev
	}

	s.Sandbox.SetLatency(o.Latency)
	s.Sandbox.DropAfterCreate(o.DropAfterCreate)
	stopFaults := make(chan struct{})
	var faults sync.WaitGroup
	faults.Go(func() { rotateFailures(s, float64(o.FailPct)/100, stopFaults) })

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		senders   sync.WaitGroup
		killers   sync.WaitGroup
		killAt    = int64(o.N / 3)
		sendErr   error
	)
	rep.Webhooks += o.N
	rep.Timed = o.N
	rep.KillAsked = o.Kill
	rep.Repeats = repeats
	cpuStart := s.CPU()
	start := time.Now()
	for range o.Concurrency {
		senders.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(o.N) {
					return
				}
				if o.Kill && i == killAt {
					killers.Go(func() {
						if killMidBatch(s, stopFaults) {
							mu.Lock()
							rep.Killed++
							mu.Unlock()
						}
					})
				}
				status, body, took, err := sendRetrying(ctx, s, evs[i])
				mu.Lock()
				latencies = append(latencies, took)
				switch {
				case err != nil:
					sendErr = err
				case status != http.StatusAccepted:
					rep.Refused++
				default:
					rep.Accepted += acceptedRecords(body, &rep)
				}
				mu.Unlock()
			}
		})
	}
	senders.Wait()
	rep.Sending = time.Since(start)
	rep.SendingCPU = s.CPU().Sub(cpuStart)
	rep.Cores = runtime.GOMAXPROCS(0) // the machine's cores, or a container's CPU limit
	if sendErr != nil {
		close(stopFaults)
		killers.Wait()
		return rep, sendErr
	}
	drain := o.Drain
	if drain == 0 {
		drain = 5 * time.Minute
	}
	err := s.WaitDrained(ctx, drain)
	rep.Duration = time.Since(start)
	close(stopFaults)
	faults.Wait()
	killers.Wait()
	rep.KilledMidBatch = s.Dispatch.KilledMidInvoke()
	rep.Instances = s.Intake.Instances()
	rep.EHRFetches = s.EHR.Fetches("Patient")
	if err != nil {
		return rep, err
	}

	slices.Sort(latencies)
	rep.P50 = latencies[len(latencies)/2]
	rep.P99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	if rep.Delivered, err = deliveredRecords(ctx, s); err != nil {
		return rep, err
	}
	if err := countDeadLetters(ctx, s, &rep); err != nil {
		return rep, err
	}
	rep.RecordsPerSecond = float64(rep.Accepted) / rep.Duration.Seconds()
	rep.Balanced = rep.Accepted == rep.Delivered+rep.Held+rep.DeadLettered+rep.Unconfirmed
	rep.SecondCharts = s.Sandbox.Duplicates() - baseline
	rep.SandboxCanaries = len(s.Sandbox.Violations())
	cw.mu.Lock()
	rep.LogCanaries = cw.hits
	cw.mu.Unlock()
	return rep, nil
}

// acceptedRecords reads intake's 202 answer: the records it accepted
// (held ones included), none for a duplicate.
func acceptedRecords(body []byte, rep *SoakReport) int {
	var a struct {
		Records   int  `json:"records"`
		Duplicate bool `json:"duplicate"`
	}
	_ = json.Unmarshal(body, &a)
	if a.Duplicate {
		rep.Duplicates++
	}
	return a.Records
}

// NewSoakLogs returns the writer for a soaked stack's Options.Logs: it
// counts the log lines that hold one of canaries.
func NewSoakLogs(canaries []string) io.Writer {
	lower := make([]string, len(canaries))
	for i, c := range canaries {
		lower[i] = strings.ToLower(c)
	}
	return &canaryWriter{canaries: lower}
}

// sendRetrying posts ev as a sender does: a 503 (or 429) is retried after
// a pause that grows to a second, up to thirty attempts (about 20 s: a
// real sender retries for hours, and a loaded machine can answer 503 for
// seconds). It returns the last answer and the time of the whole exchange.
func sendRetrying(ctx context.Context, s *Stack, ev events.APIGatewayV2HTTPRequest) (int, []byte, time.Duration, error) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		resp, err := s.Send(ctx, ev)
		if err != nil {
			return 0, nil, time.Since(start), err
		}
		if (resp.Status != http.StatusServiceUnavailable && resp.Status != http.StatusTooManyRequests) || attempt == 29 {
			return resp.Status, resp.Body, time.Since(start), nil
		}
		time.Sleep(time.Duration(min(50*(attempt+1), 1000)) * time.Millisecond)
	}
}

// rotateFailures makes the sandbox fail a fraction of calls, the status
// turning among 503, 429 and 500 every 200 ms, until stop closes. The 503s
// and 429s carry a Retry-After of one second, as a rate-limited or
// overloaded NovaMed sends; dispatch waits at least that long.
func rotateFailures(s *Stack, fraction float64, stop <-chan struct{}) {
	statuses := []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError}
	for i := 0; ; i++ {
		status := statuses[i%len(statuses)]
		retryAfter := time.Second
		if status == http.StatusInternalServerError {
			retryAfter = 0
		}
		s.Sandbox.FailFraction(fraction, status, retryAfter)
		select {
		case <-stop:
			s.Sandbox.FailFraction(0, 0, 0)
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// killMidBatch waits until a dispatch instance is running a batch and
// SIGKILLs its bootstrap then, so the kill lands mid-batch (most of a
// batch's time is its NovaMed calls, so usually mid-call too). It gives up
// when stop closes.
func killMidBatch(s *Stack, stop <-chan struct{}) bool {
	for {
		if s.Dispatch.KillBusy() {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(time.Millisecond):
		}
	}
}

// deliveredRecords counts the ledger's record items in state delivered.
func deliveredRecords(ctx context.Context, s *Stack) (int, error) {
	n := 0
	var start map[string]types.AttributeValue
	for {
		out, err := s.DynamoDB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.LedgerTable), ExclusiveStartKey: start})
		if err != nil {
			return 0, err
		}
		for _, item := range out.Items {
			pk, _ := item["pk"].(*types.AttributeValueMemberS)
			st, _ := item["state"].(*types.AttributeValueMemberS)
			if pk != nil && st != nil && strings.HasPrefix(pk.Value, "record#") && st.Value == "delivered" {
				n++
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		start = out.LastEvaluatedKey
	}
}

// countDeadLetters reads every message of the DLQ and counts them by class.
func countDeadLetters(ctx context.Context, s *Stack, rep *SoakReport) error {
	for empty := 0; empty < 2; {
		out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(s.DLQURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 600,
		})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, m := range out.Messages {
			a, err := queue.ParseDLQAttributes(m.MessageAttributes)
			if err != nil {
				return err
			}
			rep.DeadLetterClasses[a.ErrorClass]++
			switch a.ErrorClass {
			case queue.ClassHeld:
				rep.Held++
			case delivery.ClassUnconfirmed:
				rep.Unconfirmed++
			default:
				rep.DeadLettered++
			}
		}
	}
	return nil
}

// runSoak is `devstack soak`.
func runSoak(ctx context.Context, root string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := SoakOptions{}
	fs.IntVar(&o.N, "n", 5000, "webhooks")
	fs.IntVar(&o.Concurrency, "c", 50, "concurrent senders")
	fs.IntVar(&o.RepeatPct, "repeat", 10, "percent of webhooks that repeat an earlier one byte for byte")
	fs.IntVar(&o.HeldPct, "held", 5, "percent of the other webhooks that carry a record intake holds")
	fs.IntVar(&o.FailPct, "fail", 20, "percent of NovaMed calls answered 503, 429 or 500")
	fs.DurationVar(&o.Latency, "latency", 20*time.Millisecond, "latency the NovaMed sandbox adds")
	fs.IntVar(&o.DropAfterCreate, "drop", 5, "NovaMed answers lost after the record was created")
	fs.BoolVar(&o.Kill, "kill", true, "kill the dispatch bootstrap once mid-run")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the mix")
	instances := fs.Int("instances", 4, "execution environments per function (Lambda scales out the same way)")
	logFile := fs.String("logs", "", "also write the functions' logs to this file")
	cpuProfile := fs.String("cpuprofile", "", "write the stack process's CPU profile of the run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "novamed-bridge-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	templates, err := samples.Templates()
	if err != nil {
		return err
	}
	sources, err := LoadLocalSources(root)
	if err != nil {
		return err
	}
	logs := NewSoakLogs(Canaries(templates, sources))
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logs.(*canaryWriter).tee = f
	}
	// Backoff shortened by the functions' own settings (BACKOFF_BASE,
	// BACKOFF_CAP), as any deployment may set them.
	stack, sources, templates, err := startWithSamples(ctx, root, dir, stdout, Options{
		Name: "soak-" + RandomName(), Logs: logs, BackoffBase: 50 * time.Millisecond, BackoffCap: 500 * time.Millisecond,
		Instances: *instances,
	})
	if stack != nil {
		defer stack.Close()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== soak: %d webhooks, %d senders, %d%% repeats, NovaMed failing %d%% (+%v, %d lost answers), kill=%v, %d instance(s) per function\n",
		o.N, o.Concurrency, o.RepeatPct, o.FailPct, o.Latency, o.DropAfterCreate, o.Kill, *instances)
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	rep, err := Soak(ctx, stack, logs, sources, templates, o)
	rep.Print(stdout)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return errors.New("soak: an invariant failed (see above)")
	}
	return nil
}
