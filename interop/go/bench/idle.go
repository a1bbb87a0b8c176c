package main

// -idle-subscriptions K, as psrpc-bench's idle.rs: K idle subscriptions of
// one client (memory, subscribe time) and, on a broker this process started,
// the time until all are resubscribed after the broker is restarted on the
// same port. A subscription counts as resubscribed when it receives a probe
// published to its own topic after the restart; a server on its own
// connection publishes a probe to every subscription not yet reached (64
// publishes in flight), pass after pass, until each has received one.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/psrpc/pkg/client"
	"github.com/livekit/psrpc/pkg/info"
	"github.com/livekit/psrpc/pkg/rand"
	"github.com/livekit/psrpc/pkg/server"
)

const (
	// probesInFlight is how many probe publishes a pass keeps in flight.
	probesInFlight = 64
	// passPace is the least time between the starts of two probe passes.
	passPace = 50 * time.Millisecond
	// giveUp is how long resubscription may take before the run gives up.
	giveUp = 60 * time.Second
)

// measureIdle subscribes count idle subscriptions and, with own, restarts
// the broker after outage and times their resubscription.
func measureIdle(url string, own *ownBroker, count int, outage time.Duration) (map[string]any, error) {
	ctx := context.Background()
	sd := &info.ServiceDefinition{Name: "Idle", ID: rand.NewClientID()}
	define(sd)
	c, err := client.NewRPCClient(sd, connect(url))
	if err != nil {
		return nil, err
	}
	before, started := statusKiB("VmRSS"), time.Now()
	subs := make([]<-chan *blob, count)
	for i := range subs {
		sub, err := client.Join[*blob](ctx, c, "Idle", []string{strconv.Itoa(i)})
		if err != nil {
			return nil, err
		}
		subs[i] = sub.Channel()
	}
	for _, conn := range connections {
		conn.Settle()
	}
	subscribeMs := float64(time.Since(started).Microseconds()) / 1000
	after := statusKiB("VmRSS")
	report := map[string]any{
		"idle_subscriptions":        count,
		"subscribe_ms":              subscribeMs,
		"kib_per_idle_subscription": float64(after-min(after, before)) / float64(max(count, 1)),
		"outage_ms":                 nil,
		"resubscribe_ms":            nil,
	}
	if own != nil {
		reached, ms, err := resubscribedAfterRestart(url, own, subs, outage)
		if err != nil {
			return nil, err
		}
		report["outage_ms"], report["resubscribed"] = outage.Milliseconds(), reached
		if reached == count {
			report["resubscribe_ms"] = ms
		}
	}
	report["peak_rss_kib"] = statusKiB("VmHWM")
	return report, nil
}

// resubscribedAfterRestart restarts the broker and returns how many
// subscriptions received a probe, and the milliseconds from the broker's
// return to the last one's first probe.
func resubscribedAfterRestart(url string, own *ownBroker, subs []<-chan *blob, outage time.Duration) (int, float64, error) {
	sd := &info.ServiceDefinition{Name: "Idle", ID: rand.NewServerID()}
	define(sd)
	publisher := server.NewRPCServer(sd, connect(url))
	defer publisher.Close(true)
	back, err := own.restart(outage)
	if err != nil {
		return 0, 0, err
	}
	reached := make([]atomic.Bool, len(subs))
	var mu sync.Mutex
	var seen int
	last := back
	for i, ch := range subs {
		go func() {
			if _, ok := <-ch; ok {
				reached[i].Store(true)
				mu.Lock()
				seen++
				if now := time.Now(); now.After(last) {
					last = now
				}
				mu.Unlock()
			}
		}()
	}
	progress := func() (int, time.Time) {
		mu.Lock()
		defer mu.Unlock()
		return seen, last
	}
	probe := &blob{Value: []byte("probe")}
	for n, _ := progress(); n < len(subs) && time.Since(back) < giveUp; n, _ = progress() {
		pass := time.Now()
		slots := make(chan struct{}, probesInFlight)
		var wg sync.WaitGroup
		for i := range subs {
			if reached[i].Load() {
				continue
			}
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				_ = publisher.Publish(context.Background(), "Idle", []string{strconv.Itoa(i)}, probe)
			}()
		}
		wg.Wait()
		time.Sleep(time.Until(pass.Add(passPace)))
	}
	n, at := progress()
	return n, float64(at.Sub(back).Microseconds()) / 1000, nil
}

// ownBroker is a nats-server or redis-server this process started on a
// free loopback port.
type ownBroker struct {
	args []string
	port int
	url  string
	cmd  *exec.Cmd
}

// startBroker starts a broker for bus (nats or redis).
func startBroker(bus string) (*ownBroker, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	b := &ownBroker{port: port}
	switch bus {
	case "nats":
		b.args = []string{"nats-server", "-a", "127.0.0.1", "-p", strconv.Itoa(port)}
		b.url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	case "redis":
		b.args = []string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
		b.url = fmt.Sprintf("redis://127.0.0.1:%d", port)
	default:
		return nil, fmt.Errorf("no broker for bus %q", bus)
	}
	return b, b.start()
}

// start runs the broker and returns once it accepts connections.
func (b *ownBroker) start() error {
	b.cmd = exec.Command(b.args[0], b.args[1:]...)
	if err := b.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), 200*time.Millisecond); err == nil {
			_ = conn.Close()
			return nil
		}
	}
	b.stop()
	return errors.New(b.args[0] + " did not accept connections within 10 s")
}

// stop kills the broker and waits for it to exit.
func (b *ownBroker) stop() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}

// restart kills the broker, keeps it down for outage and starts it again on
// the same port; returns when it accepted connections.
func (b *ownBroker) restart(outage time.Duration) (time.Time, error) {
	b.stop()
	time.Sleep(outage)
	err := b.start()
	return time.Now(), err
}
