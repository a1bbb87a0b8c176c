// Package gobus connects Go psrpc to the bus a URL names, for the interop peer
// and the benchmark twin, whichever psrpc version the module is built against.
package gobus

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/livekit/psrpc"
)

// Connection is a bus connection.
type Connection struct {
	Bus psrpc.MessageBus
	// Settle returns once subscriptions made so far are live on the broker, as
	// far as the client library lets one know: on NATS after a round trip
	// (subscriptions are sent in order on the connection); on Redis after
	// 250 ms, because Go psrpc's Redis bus queues SUBSCRIBE to a worker and
	// its publishes to others, and go-redis reports no confirmation, so a
	// fresh client's first call that needs no claim can otherwise lose its
	// response (a long-lived Go client never notices).
	Settle func()
	// Close closes the connection.
	Close func()
}

// Connect opens a new connection to nats://… or redis://… (or "local" for the
// process-wide in-process bus). compress > 0 gzips published payloads at that level.
func Connect(url string, compress int) (*Connection, error) {
	var opts []psrpc.BusOption
	if compress > 0 {
		opts = append(opts, psrpc.WithBusCompression(psrpc.CompressionOpts{Quality: compress, Threshold: 1}))
	}
	switch {
	case url == "local":
		if local == nil {
			local = psrpc.NewLocalMessageBus(opts...)
		}
		return &Connection{Bus: local, Settle: func() {}, Close: func() {}}, nil
	case strings.HasPrefix(url, "nats://"):
		nc, err := nats.Connect(url)
		if err != nil {
			return nil, err
		}
		return &Connection{Bus: natsBus(nc, opts...), Settle: func() { _ = nc.Flush() }, Close: nc.Close}, nil
	case strings.HasPrefix(url, "redis://"):
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, err
		}
		rc := redis.NewClient(o)
		settle := func() { time.Sleep(250 * time.Millisecond) }
		return &Connection{Bus: redisBus(rc, opts...), Settle: settle, Close: func() { _ = rc.Close() }}, nil
	default:
		return nil, fmt.Errorf("unknown bus %q: use local, nats://HOST:PORT or redis://HOST:PORT", url)
	}
}

var local psrpc.MessageBus
