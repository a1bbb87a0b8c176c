// Command bench is the Go twin of psrpc-bench: the same service ("Bench"),
// methods, payload and driving loop, measured with Go psrpc, so
// psrpc-bench/go_vs_rust.py can put both side by side.
//
//	bench --bus nats --url nats://127.0.0.1:4222 --kind single --concurrency 64 --payload 128 --duration 10
//
// As in psrpc-bench: client and servers in one process (GOMAXPROCS=2), each on
// its own bus connection (the in-process bus is shared); `concurrency` callers
// loop for `warmup` seconds untimed, then `duration` seconds timed; errors are
// counted, never retried. The payload travels in a message whose encoding is
// psrpc-bench's Blob (field 1, bytes). The last line of output is a JSON
// summary with psrpc-bench's keys. The raw round trip is a kind of its own here
// (`--kind raw`, reported under the same keys), where psrpc-bench measures it
// before every run. `--topics K` and `--idle-subscriptions K` are
// psrpc-bench's: K topics per server of the no-claim method, or K idle
// subscriptions and their resubscription after a broker restart (idle.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/livekit/psrpc"
	"github.com/livekit/psrpc/pkg/client"
	"github.com/livekit/psrpc/pkg/info"
	"github.com/livekit/psrpc/pkg/rand"
	"github.com/livekit/psrpc/pkg/server"

	"github.com/psrpc-rs/psrpc-rs/interop/go/gobus"
)

type blob = wrapperspb.BytesValue

const service = "Bench"

// The methods of psrpc-bench's kinds, registered as psrpc-bench's MethodInfos are.
func define(sd *info.ServiceDefinition) {
	//                 name        affinity multi  claim  queue
	sd.RegisterMethod("Single", false, false, true, true)
	sd.RegisterMethod("NoClaim", false, false, false, true)
	sd.RegisterMethod("Affinity", true, false, true, false)
	sd.RegisterMethod("Multi", false, true, false, false)
	sd.RegisterMethod("Stream", false, false, true, true)
	sd.RegisterMethod("Feed", false, true, false, false)
	sd.RegisterMethod("Idle", false, true, false, false)
}

func main() {
	runtime.GOMAXPROCS(2)
	busKind := flag.String("bus", "local", "local, nats or redis")
	url := flag.String("url", "", "broker URL (nats and redis)")
	kind := flag.String("kind", "single", "single, single-noclaim, affinity, multi, stream, subscription, or raw (the bus client's round trip, no psrpc)")
	concurrency := flag.Int("concurrency", 64, "calls in flight")
	payload := flag.Int("payload", 128, "payload size in bytes")
	duration := flag.Int("duration", 10, "timed seconds (after the warm-up)")
	warmup := flag.Int("warmup", 2, "warm-up seconds")
	servers := flag.Int("servers", 1, "servers (multi: how many answer each call, at least 3)")
	brokerPid := flag.Int("broker-pid", 0, "process id of the broker behind -url: its CPU time per call is measured too")
	topics := flag.Int("topics", 1, "topics every server registers (single-noclaim); the client calls one")
	idleSubscriptions := flag.Int("idle-subscriptions", 0, "instead of a throughput run, measure this many idle subscriptions")
	outageMs := flag.Int("outage-ms", 2000, "how long the broker stays down when -idle-subscriptions restarts it")
	flag.Parse()

	if *busKind == "local" {
		*url = "local"
	} else if *url == "" {
		var err error
		if own, err = startBroker(*busKind); err != nil {
			fail(err)
		}
		defer own.stop()
		*url = own.url
	}
	if *idleSubscriptions > 0 {
		report, err := measureIdle(*url, own, *idleSubscriptions, time.Duration(*outageMs)*time.Millisecond)
		if err != nil {
			fail(err)
		}
		report["impl"], report["psrpc_version"], report["bus"] = "go", psrpcVersion(), *busKind
		b, _ := json.Marshal(report)
		fmt.Println(string(b))
		return
	}
	count := max(*servers, 1)
	if *kind == "multi" {
		count = max(*servers, 3)
	}
	var call call
	var reg registration
	var err error
	if *kind == "raw" {
		call, err = setupRaw(*url, *payload, *concurrency)
	} else {
		call, reg, err = setup(*kind, *url, count, *topics, *payload, *concurrency)
	}
	if err != nil {
		fail(err)
	}
	rssBefore := statusKiB("VmRSS")
	label := *busKind + "/" + *kind
	m := drive(label, *concurrency, time.Duration(*warmup)*time.Second, time.Duration(*duration)*time.Second, *brokerPid, call)
	rssAfter := statusKiB("VmRSS")

	fmt.Printf("%-28s %12s %10s %10s %10s %12s\n", "", "calls/s", "p50 µs", "p99 µs", "p99.9 µs", "CPU µs/call")
	fmt.Printf("%-28s %12.0f %10.1f %10.1f %10.1f %12.1f\n", "go psrpc "+psrpcVersion(), m.CallsPerSecond, m.P50, m.P99, m.P999, m.CPUPerCall)
	summary := map[string]any{
		"impl": "go", "psrpc_version": psrpcVersion(),
		"bus": *busKind, "kind": strings.ReplaceAll(*kind, "-", ""), "concurrency": *concurrency, "payload": *payload,
		"duration_s": *duration, "servers": count, "psrpc": m.json(),
		"rss_kib_before": rssBefore, "rss_kib_after": rssAfter, "peak_rss_kib": statusKiB("VmHWM"),
		"topics": *topics, "subscribe_ms": float64(reg.Time.Microseconds()) / 1000, "subscribe_rss_kib": reg.KiB,
	}
	b, _ := json.Marshal(summary)
	fmt.Println(string(b))
}

// own is the broker this process started (no -url on a broker bus), if any.
var own *ownBroker

// fail reports err and exits, stopping the broker this process started.
func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	if own != nil {
		own.stop()
	}
	os.Exit(1)
}

// psrpcVersion is the version of Go psrpc this binary was built with.
func psrpcVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/livekit/psrpc" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

// call runs one call for the caller numbered worker.
type call func(worker int) error

// connections made so far, settled before the first call.
var connections []*gobus.Connection

func connect(url string) psrpc.MessageBus {
	conn, err := gobus.Connect(url, 0)
	if err != nil {
		fail(err)
	}
	connections = append(connections, conn)
	return conn.Bus
}

// registration is what the servers' setup took: wall time (including the
// connections' Settle) and resident memory added.
type registration struct {
	Time time.Duration
	KiB  uint64
}

// noclaimTopics are the topics a single-noclaim server registers: "t", the
// one called, then "t1", "t2"…
func noclaimTopics(count int) []string {
	topics := []string{"t"}
	for i := 1; i < count; i++ {
		topics = append(topics, "t"+strconv.Itoa(i))
	}
	return topics
}

// setup starts the servers of kind (each registering topics topics when
// kind is single-noclaim) and returns the call to drive.
func setup(kind, url string, servers, topics, payload, concurrency int) (call, registration, error) {
	if topics > 1 && kind != "single-noclaim" {
		return nil, registration{}, errors.New("-topics needs -kind single-noclaim")
	}
	capacity := max(concurrency*4, 100)
	echo := func(_ context.Context, b *blob) (*blob, error) { return b, nil }
	echoStream := func(s psrpc.ServerStream[*blob, *blob]) error {
		for b := range s.Channel() {
			if err := s.Send(b); err != nil {
				return err
			}
		}
		return nil
	}
	var publisher *server.RPCServer
	rssBefore, registering := statusKiB("VmRSS"), time.Now()
	for range servers {
		sd := &info.ServiceDefinition{Name: service, ID: rand.NewServerID()}
		define(sd)
		s := server.NewRPCServer(sd, connect(url), psrpc.WithServerChannelSize(capacity))
		var err error
		switch kind {
		case "single":
			err = server.RegisterHandler(s, "Single", nil, echo, nil)
		case "single-noclaim":
			for _, topic := range noclaimTopics(topics) {
				if err = server.RegisterHandler(s, "NoClaim", []string{topic}, echo, nil); err != nil {
					break
				}
			}
		case "affinity":
			affinity := func(context.Context, *blob) float32 { return 1 }
			err = server.RegisterHandler(s, "Affinity", nil, echo, affinity)
		case "multi":
			err = server.RegisterHandler(s, "Multi", nil, echo, nil)
		case "stream":
			err = server.RegisterStreamHandler(s, "Stream", nil, echoStream, nil)
		case "subscription":
		default:
			return nil, registration{}, fmt.Errorf("unknown kind %q", kind)
		}
		if err != nil {
			return nil, registration{}, err
		}
		if publisher == nil {
			publisher = s
		}
	}
	for _, conn := range connections {
		conn.Settle()
	}
	after := statusKiB("VmRSS")
	reg := registration{Time: time.Since(registering), KiB: after - min(after, rssBefore)}

	sd := &info.ServiceDefinition{Name: service, ID: rand.NewClientID()}
	define(sd)
	c, err := client.NewRPCClientWithStreams(sd, connect(url),
		psrpc.WithClientChannelSize(capacity), psrpc.WithClientTimeout(10*time.Second))
	if err != nil {
		return nil, reg, err
	}
	req := &blob{Value: make([]byte, payload)}
	for i := range req.Value {
		req.Value[i] = 0x5a
	}
	ctx := context.Background()
	// Servers' and the client's subscriptions are live before streams open,
	// and subscribers' before the first call.
	settle := func() {
		for _, conn := range connections {
			conn.Settle()
		}
	}
	settle()
	defer settle()

	switch kind {
	case "single", "single-noclaim", "affinity":
		method, topic := "Single", []string(nil)
		var opts []psrpc.RequestOption
		switch kind {
		case "single-noclaim":
			method, topic = "NoClaim", []string{"t"}
		case "affinity":
			method = "Affinity"
			opts = append(opts, psrpc.WithSelectionOpts(psrpc.SelectionOpts{MaximumAffinity: 1}))
		}
		return func(int) error {
			_, err := client.RequestSingle[*blob](ctx, c, method, topic, req, opts...)
			return err
		}, reg, nil
	case "multi":
		// Go psrpc's multi call has no expected-response count: its channel
		// closes at the timeout, so a call ends when every server answered.
		return func(int) error {
			responses, err := client.RequestMulti[*blob](ctx, c, "Multi", nil, req)
			if err != nil {
				return err
			}
			answered := 0
			for r := range responses {
				if r.Err != nil {
					return r.Err
				}
				if answered++; answered == servers {
					return nil
				}
			}
			return fmt.Errorf("%d of %d answered", answered, servers)
		}, reg, nil
	case "stream":
		streams := make([]psrpc.ClientStream[*blob, *blob], concurrency)
		for i := range streams {
			if streams[i], err = client.OpenStream[*blob, *blob](ctx, c, "Stream", nil); err != nil {
				return nil, reg, err
			}
		}
		return func(worker int) error {
			s := streams[worker]
			if err := s.Send(req); err != nil {
				return err
			}
			if _, ok := <-s.Channel(); !ok {
				return errors.New("stream closed")
			}
			return nil
		}, reg, nil
	case "subscription":
		subs := make([]psrpc.Subscription[*blob], concurrency)
		for i := range subs {
			if subs[i], err = client.Join[*blob](ctx, c, "Feed", []string{strconv.Itoa(i)}); err != nil {
				return nil, reg, err
			}
		}
		return func(worker int) error {
			if err := publisher.Publish(ctx, "Feed", []string{strconv.Itoa(worker)}, req); err != nil {
				return err
			}
			if _, ok := <-subs[worker].Channel(); !ok {
				return errors.New("subscription ended")
			}
			return nil
		}, reg, nil
	}
	return nil, reg, fmt.Errorf("unknown kind %q", kind)
}

// ---- driving loop (psrpc-bench's drive.rs) ----

type measurement struct {
	Calls, Errors      uint64
	CallsPerSecond     float64
	P50, P99, P999     float64
	CPUPerCall         float64
	RSSAt10s, RSSAtEnd uint64
	// BrokerCPUPerCall is the broker's CPU time per call (nil: not measured).
	BrokerCPUPerCall *float64
}

func (m measurement) json() map[string]any {
	return map[string]any{
		"calls": m.Calls, "errors": m.Errors, "calls_per_second": math.Round(m.CallsPerSecond),
		"p50_us": m.P50, "p99_us": m.P99, "p999_us": m.P999, "cpu_us_per_call": m.CPUPerCall,
		"rss_kib_at_10s": m.RSSAt10s, "rss_kib_at_end": m.RSSAtEnd, "broker_cpu_us_per_call": m.BrokerCPUPerCall,
	}
}

// drive runs c on concurrency goroutines: warmup untimed, then duration timed.
// With brokerPid > 0 the broker's CPU time over the timed phase is measured too.
func drive(label string, concurrency int, warmup, duration time.Duration, brokerPid int, c call) measurement {
	phase(c, concurrency, warmup, nil)
	var progress atomic.Uint64
	var rssAt10s atomic.Uint64
	stop := make(chan struct{})
	go report(label, &progress, &rssAt10s, stop)
	cpuBefore := cpuTime()
	brokerBefore := procCPUTime(brokerPid)
	started := time.Now()
	samples := phase(c, concurrency, duration, &progress)
	elapsed := time.Since(started)
	cpu := cpuTime() - cpuBefore
	brokerCPU := procCPUTime(brokerPid) - brokerBefore
	rssAtEnd := statusKiB("VmRSS")
	close(stop)
	fmt.Fprintln(os.Stderr)
	calls := samples.count.Load()
	p50, p99, p999 := samples.percentilesUs()
	m := measurement{
		Calls: calls, Errors: samples.errors.Load(), CallsPerSecond: float64(calls) / elapsed.Seconds(),
		P50: p50, P99: p99, P999: p999, RSSAt10s: rssAt10s.Load(), RSSAtEnd: rssAtEnd,
	}
	if calls > 0 {
		m.CPUPerCall = float64(cpu.Microseconds()) / float64(calls)
		if brokerPid > 0 {
			perCall := float64(brokerCPU.Microseconds()) / float64(calls)
			m.BrokerCPUPerCall = &perCall
		}
	}
	return m
}

func phase(c call, concurrency int, duration time.Duration, progress *atomic.Uint64) *histogram {
	deadline := time.Now().Add(duration)
	samples := &histogram{}
	var wg sync.WaitGroup
	for worker := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				started := time.Now()
				if err := c(worker); err != nil {
					samples.errors.Add(1)
				} else {
					samples.record(time.Since(started))
				}
				if progress != nil {
					progress.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return samples
}

func report(label string, progress, rssAt10s *atomic.Uint64, stop chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last uint64
	for second := 1; ; second++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if second == 10 {
			rssAt10s.Store(statusKiB("VmRSS"))
		}
		now := progress.Load()
		fmt.Fprintf(os.Stderr, "\r%s: %d calls/s, %d calls so far      ", label, now-last, now)
		last = now
	}
}

// ---- histogram (psrpc-bench's stats.rs: 7 significant bits, nearest rank) ----

const (
	subBits = 7
	sub     = 1 << subBits
	buckets = sub + (64-subBits)*sub
)

type histogram struct {
	buckets [buckets]atomic.Uint64
	count   atomic.Uint64
	errors  atomic.Uint64
}

func (h *histogram) record(d time.Duration) {
	h.buckets[bucketOf(uint64(d.Nanoseconds()))].Add(1)
	h.count.Add(1)
}

func bucketOf(nanos uint64) int {
	if nanos < sub {
		return int(nanos)
	}
	shift := 63 - bits.LeadingZeros64(nanos) - subBits
	mantissa := int(nanos>>shift) - sub
	return sub + shift*sub + mantissa
}

func midpoint(bucket int) float64 {
	if bucket < sub {
		return float64(bucket)
	}
	shift := (bucket - sub) / sub
	low := uint64((bucket-sub)%sub + sub)
	width := uint64(1) << shift
	return float64(low<<shift) + float64(width-1)/2
}

func (h *histogram) percentilesUs() (float64, float64, float64) {
	var counts [buckets]uint64
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	at := func(q float64) float64 {
		if total == 0 {
			return 0
		}
		rank := uint64(math.Round(float64(total-1)*q)) + 1
		var seen uint64
		for b, n := range counts {
			seen += n
			if seen >= rank {
				return midpoint(b) / 1000
			}
		}
		return 0
	}
	return at(0.50), at(0.99), at(0.999)
}

// ---- process resources ----

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPUTime is the CPU time (user + system) process pid used so far, from
// /proc/<pid>/stat (0 when pid is 0 or unreadable).
func procCPUTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the 12th and 13th.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	// USER_HZ is 100 on every common Linux configuration.
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// statusKiB is a field of /proc/self/status in KiB (VmRSS, VmHWM).
func statusKiB(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseUint(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}
